"""Text normalisation for comparing transcripts (shared by the integration tests and the bench).

normalize("Mr. Quilter's gospel, isn't it?") == "mr quilter's gospel isn't it"
Lower case; punctuation and symbols become spaces, except an apostrophe between two letters or
digits; whitespace collapsed.
"""
import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_INNER_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
_KEEP = "\u0001"


def normalize(text):
    text = unicodedata.normalize("NFKC", text or "").translate(_APOSTROPHES).lower()
    text = _INNER_APOSTROPHE.sub(_KEEP, text)
    out = []
    for ch in text:
        if ch == _KEEP:
            out.append("'")
        elif ch.isspace():
            out.append(" ")
        else:
            cat = unicodedata.category(ch)
            out.append(" " if cat[0] in ("P", "S", "C") else ch)
    return " ".join("".join(out).split())


if __name__ == "__main__":
    import sys
    for line in sys.stdin:
        print(normalize(line))


def word_errors(ref, hyp):
    """(word errors, reference words) after normalize(), by jiwer's alignment."""
    import jiwer
    ref, hyp = normalize(ref), normalize(hyp)
    if not hyp:
        return len(ref.split()), len(ref.split())
    o = jiwer.process_words(ref, hyp)
    return o.substitutions + o.deletions + o.insertions, o.hits + o.substitutions + o.deletions
