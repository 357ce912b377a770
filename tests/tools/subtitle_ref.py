"""A reference for the srt/vtt/tsv writers: a faithful transcription of openai-whisper's
whisper/utils.py (format_timestamp, SubtitlesWriter.iterate_result, WriteSRT, WriteVTT, WriteTSV),
used to derive the expected bytes in tests/unit/test_writers.c and, in tests/integration/
test_outputs.py, to check the C writers on random inputs.

Two documented differences of the C writers are applied here too so that outputs compare byte for
byte: milliseconds are rounded half away from zero (Python's round() rounds half to even; this only
matters for times exactly on a half millisecond), and "-->" is replaced by "->" in cues built from
words (openai does it only for segment text).

Input: a result dict as openai's, {"segments": [{"start", "end", "text", "words": [{"word", "start",
"end", "probability"}]}]} ("words" absent: no word timestamps).

Run as a script it prints the C string literals of the unit test's expected outputs (see
unit_case()).
"""
import math
import re


def _round_ms(x):
    # round half away from zero (the C writers' llround); x >= 0 here
    return int(math.floor(x + 0.5))


def format_timestamp(seconds, always_include_hours=False, decimal_marker="."):
    if not seconds > 0:
        seconds = 0.0  # the C writers write negative and NaN times as 0
    milliseconds = _round_ms(seconds * 1000.0)

    hours = milliseconds // 3_600_000
    milliseconds -= hours * 3_600_000

    minutes = milliseconds // 60_000
    milliseconds -= minutes * 60_000

    seconds = milliseconds // 1_000
    milliseconds -= seconds * 1_000

    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{seconds:02d}{decimal_marker}{milliseconds:03d}"


class SubtitlesWriter:
    always_include_hours = False
    decimal_marker = "."

    def format_timestamp(self, seconds):
        return format_timestamp(seconds, self.always_include_hours, self.decimal_marker)

    def iterate_result(self, result, options=None, *, max_line_width=None, max_line_count=None,
                       highlight_words=False, max_words_per_line=None):
        options = options or {}
        max_line_width = max_line_width or options.get("max_line_width")
        max_line_count = max_line_count or options.get("max_line_count")
        highlight_words = highlight_words or options.get("highlight_words", False)
        max_words_per_line = max_words_per_line or options.get("max_words_per_line")
        preserve_segments = max_line_count is None or max_line_width is None
        max_line_width = max_line_width or 1000
        max_words_per_line = max_words_per_line or 1000

        def iterate_subtitles():
            line_len = 0
            line_count = 1
            # the next subtitle to yield (a list of word timings with whitespace)
            subtitle = []
            last = result["segments"][0]["words"][0]["start"]
            for segment in result["segments"]:
                chunk_index = 0
                words_count = max_words_per_line
                while chunk_index < len(segment["words"]):
                    remaining_words = len(segment["words"]) - chunk_index
                    if max_words_per_line > len(segment["words"]) - chunk_index:
                        words_count = remaining_words
                    for i, original_timing in enumerate(segment["words"][chunk_index:chunk_index + words_count]):
                        timing = original_timing.copy()
                        long_pause = not preserve_segments and timing["start"] - last > 3.0
                        has_room = line_len + len(timing["word"]) <= max_line_width
                        seg_break = i == 0 and len(subtitle) > 0 and preserve_segments
                        if line_len > 0 and has_room and not long_pause and not seg_break:
                            # line continuation
                            line_len += len(timing["word"])
                        else:
                            # new line
                            timing["word"] = timing["word"].strip()
                            if (
                                len(subtitle) > 0
                                and max_line_count is not None
                                and (long_pause or line_count >= max_line_count)
                                or seg_break
                            ):
                                # subtitle break
                                yield subtitle
                                subtitle = []
                                line_count = 1
                            elif line_len > 0:
                                # line break
                                line_count += 1
                                timing["word"] = "\n" + timing["word"]
                            line_len = len(timing["word"].strip())
                        subtitle.append(timing)
                        last = timing["start"]
                    chunk_index += max_words_per_line
            if len(subtitle) > 0:
                yield subtitle

        if len(result["segments"]) > 0 and "words" in result["segments"][0]:
            for subtitle in iterate_subtitles():
                subtitle_start = self.format_timestamp(subtitle[0]["start"])
                subtitle_end = self.format_timestamp(subtitle[-1]["end"])
                subtitle_text = "".join([word["word"] for word in subtitle])
                if highlight_words:
                    last = subtitle_start
                    all_words = [timing["word"] for timing in subtitle]
                    for i, this_word in enumerate(subtitle):
                        start = self.format_timestamp(this_word["start"])
                        end = self.format_timestamp(this_word["end"])
                        if last != start:
                            yield last, start, subtitle_text.replace("-->", "->")

                        yield start, end, "".join(
                            [
                                re.sub(r"^(\s*)(.*)$", r"\1<u>\2</u>", word) if j == i else word
                                for j, word in enumerate(all_words)
                            ]
                        ).replace("-->", "->")
                        last = end
                else:
                    yield subtitle_start, subtitle_end, subtitle_text.replace("-->", "->")
        else:
            for segment in result["segments"]:
                segment_start = self.format_timestamp(segment["start"])
                segment_end = self.format_timestamp(segment["end"])
                segment_text = segment["text"].strip().replace("-->", "->")
                yield segment_start, segment_end, segment_text


class WriteVTT(SubtitlesWriter):
    always_include_hours = False
    decimal_marker = "."

    def write_result(self, result, options=None, **kwargs):
        out = "WEBVTT\n\n"
        for start, end, text in self.iterate_result(result, options, **kwargs):
            out += f"{start} --> {end}\n{text}\n\n"
        return out


class WriteSRT(SubtitlesWriter):
    always_include_hours = True
    decimal_marker = ","

    def write_result(self, result, options=None, **kwargs):
        out = ""
        for i, (start, end, text) in enumerate(self.iterate_result(result, options, **kwargs), start=1):
            out += f"{i}\n{start} --> {end}\n{text}\n\n"
        return out


def write_tsv(result):
    out = "start\tend\ttext\n"
    for segment in result["segments"]:
        out += f"{_round_ms(1000 * max(segment['start'], 0))}\t{_round_ms(1000 * max(segment['end'], 0))}\t"
        out += segment["text"].strip().replace("\t", " ") + "\n"
    return out


def write(result, fmt, options=None):
    """fmt: "srt" or "vtt"; options as openai's dict (None values or missing keys: unset)."""
    w = WriteSRT() if fmt == "srt" else WriteVTT()
    return w.write_result(result, options or {})


# ---- the unit test's case -------------------------------------------------------------------

def unit_case():
    """The result built by make_word_result() in tests/unit/test_writers.c."""
    def seg(start, end, words):
        return {"start": start, "end": end, "text": "".join(w for w, _, _ in words),
                "words": [{"word": w, "start": s, "end": e, "probability": 0.5} for w, s, e in words]}
    return {"segments": [
        seg(0.0, 3.0, [(" The", 0.0, 0.3), (" quick", 0.3, 0.6), (" brown", 0.6, 0.9), (" fox", 0.9, 1.2),
                       (" jumps", 1.2, 1.6), (" over", 1.6, 1.9), (" the", 1.9, 2.0), (" lazy", 2.0, 2.4),
                       (" dog.", 2.4, 3.0)]),
        seg(7.0, 9.0, [(" Caf\u00e9", 7.0, 7.4), (" d\u00e9j\u00e0", 7.4, 7.9), (" vu,", 7.9, 8.3),
                       (" na\u00efve", 8.3, 8.6), (" -->", 8.6, 8.7), (" ok.", 8.7, 9.0)]),
        seg(9.5, 11.5, [(" \u65e5\u672c", 9.5, 10.0), ("\u8a9e\u306e", 10.0, 10.6),
                        ("\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002", 10.6, 11.5)]),
    ]}


UNIT_CONFIGS = [
    # (C macro name, format, options)
    ("WORDS_SRT_DEFAULT", "srt", {}),
    ("WORDS_VTT_DEFAULT", "vtt", {}),
    ("WORDS_SRT_W20_C2", "srt", {"max_line_width": 20, "max_line_count": 2}),
    ("WORDS_VTT_W20_C2", "vtt", {"max_line_width": 20, "max_line_count": 2}),
    ("WORDS_SRT_W20", "srt", {"max_line_width": 20}),
    ("WORDS_SRT_WPL3", "srt", {"max_words_per_line": 3}),
    ("WORDS_VTT_HL_W20_C2", "vtt", {"max_line_width": 20, "max_line_count": 2, "highlight_words": True}),
]


def c_literal(s):
    """s as C string literal lines (non-ASCII bytes as \\x escapes, one line per output line)."""
    out, cur = [], ""
    data = s.encode("utf-8")
    prev_hex = False
    for b in data:
        ch = chr(b)
        if b >= 0x80:
            cur += f"\\x{b:02X}"
            prev_hex = True
            continue
        if prev_hex and ch in "0123456789abcdefABCDEF":
            cur += '" "'
        prev_hex = False
        if ch == "\n":
            cur += "\\n"
            out.append(cur)
            cur = ""
        elif ch == '"':
            cur += '\\"'
        elif ch == "\\":
            cur += "\\\\"
        else:
            cur += ch
    if cur:
        out.append(cur)
    return "\n".join(f'    "{line}"' for line in out)


if __name__ == "__main__":
    r = unit_case()
    for name, fmt, opts in UNIT_CONFIGS:
        print(f"#define {name} \\")
        print(" \\\n".join(c_literal(write(r, fmt, opts)).split("\n")))
        print()
