"""Captions (WebVTT, SRT) cut from a transcript's segments, the way broadcast caption guides ask.

The rules follow the BBC subtitle guidelines and Netflix's timed text style guide:

- At most `max_chars_per_line` (42) characters a line and `max_lines` (2) lines a cue, and one
  line whenever the text fits on one. Words are never split: a word longer than a line stands
  alone on its line and overflows it (players wrap it themselves), since a cut word is unreadable.
- Lines and cues break at natural points: after a sentence's end, then after a comma, semicolon,
  colon or dash, then before a conjunction, and not after an article or preposition where it can
  be helped. The lines of a cue are balanced (the shortest longest line wins; on a tie the top
  line is the shorter one, a "bottom-heavy" pyramid).
- A cue holds one segment's words only, crosses no pause between words longer than
  `pause_seconds` (1.5), and its words span at most `max_seconds` (7.0).
- A cue starts at its first word's start and ends at its last word's end plus up to
  `linger_seconds` (0.5) to read it, lasting at least `min_seconds` (1.0), but never more than
  `max_seconds` and never past the next cue's start. Times are whole milliseconds: starts rise
  strictly and every cue lasts at least 1 ms, however degenerate the input.
- Without word times (some OpenAI-compatible servers send none) a segment's time is shared among
  its words in proportion to their characters.

Segments are the stored Transcript's JSON: `{"start", "end", "text", "words": [{"start", "end",
"word", "probability"}] | None}`, in any order. Text is normalised (whitespace collapsed, control
characters dropped, "-->" written "→" so that no cue can end early). WebVTT escapes `&`, `<` and
`>`; SRT has no escaping, so its text is written as it is. Both are written with LF line endings.
"""

import math
import string
from dataclasses import dataclass
from itertools import combinations, pairwise
from typing import Any

FORMATS = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}

_SENTENCE_ENDS = tuple(".?!…")
_CLAUSE_ENDS = tuple(",;:–—")
_CLOSING = "\"')]}»”’"
_CONJUNCTIONS = frozenset(
    {"and", "but", "or", "nor", "so", "yet", "because", "although", "though", "while", "whereas"}
    | {"if", "unless", "when", "where", "which", "who", "whose", "than"}
)
_WEAK_ENDS = frozenset(
    {"a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "into", "my"}
    | {"your", "his", "her", "its", "our", "their"}
)
Token = tuple[str, float, float]  # a word, its start and its end (seconds)
_CONTROLS = {c: " " for c in [*range(0x20), *range(0x7F, 0xA0)]}


@dataclass
class Cue:
    start: float  # seconds, whole milliseconds
    end: float
    lines: list[str]


def media_type(format: str) -> str:
    """The Content-Type of a caption format ("vtt" or "srt"); ValueError for any other."""
    if format not in FORMATS:
        raise ValueError(f"Unknown caption format {format!r}")
    return FORMATS[format]


def _clean(text: str) -> str:
    return " ".join(text.translate(_CONTROLS).replace("-->", "→").split())


def _tokens(segment: dict[str, Any]) -> list[Token]:
    """The segment's words with their times, or nothing for an empty or unusable segment."""
    text = _clean(segment.get("text") or "")
    start, end = float(segment.get("start") or 0.0), float(segment.get("end") or 0.0)
    if not text or not (math.isfinite(start) and math.isfinite(end)):
        return []
    words = [
        (word, float(w["start"]), float(w["end"]))
        for w in segment.get("words") or []
        if (word := _clean(w.get("word") or ""))
    ]
    if words and all(math.isfinite(s) and math.isfinite(e) for _, s, e in words):
        return words
    # No word times: share the segment's time among its words by their characters.
    parts, duration = text.split(), max(end - start, 0.0)
    total, done, shared = sum(map(len, parts)), 0, []
    for part in parts:
        first = start + duration * done / total
        done += len(part)
        shared.append((part, first, start + duration * done / total))
    return shared


def _bare(word: str) -> str:
    return word.strip(string.punctuation + _CLOSING + "“‘«¿¡").lower()


def _break_cost(before: str, after: str) -> int:
    """How good a place between two words is to end a line or a cue: lower is better."""
    end = before.rstrip(_CLOSING)
    if end.endswith(_SENTENCE_ENDS):
        return -12
    if end.endswith(_CLAUSE_ENDS) or before in ("-", "–", "—"):
        return -8
    if _bare(after) in _CONJUNCTIONS:
        return -5
    return 8 if _bare(before) in _WEAK_ENDS else 0


def _line_count(words: list[str], max_chars: int) -> int:
    """The fewest lines the words fit on (greedy filling is optimal for that)."""
    lines, width = 0, 0
    for word in words:
        if lines and width + 1 + len(word) <= max_chars:
            width += 1 + len(word)
        else:
            lines, width = lines + 1, len(word)
    return lines


def _lines(words: list[str], max_chars: int) -> list[str]:
    """The words on the fewest lines, broken at the best places."""
    count = _line_count(words, max_chars)
    best: tuple[tuple[int, int], list[str]] | None = None
    for cuts in combinations(range(1, len(words)), count - 1):
        spans = list(pairwise((0, *cuts, len(words))))
        if any(b - a > 1 and len(" ".join(words[a:b])) > max_chars for a, b in spans):
            continue  # only a lone overlong word may overflow its line
        lines = [" ".join(words[a:b]) for a, b in spans]
        score = max(map(len, lines)) + sum(_break_cost(words[k - 1], words[k]) for k in cuts)
        if best is None or (score, len(lines[0])) < best[0]:
            best = ((score, len(lines[0])), lines)
    assert best is not None  # the greedy filling is always one of the choices
    return best[1]


def _chunks(
    run: list[Token], max_chars: int, max_lines: int, max_seconds: float
) -> list[list[Token]]:
    """Cut a run of words (one segment, no long pause) into cues' worth of words."""
    words, chunks, i = [w for w, _, _ in run], [], 0
    while i < len(run):
        j = i + 1  # run[i:j] is the longest stretch that fits on a cue
        while (
            j < len(run)
            and run[j][2] - run[i][1] <= max_seconds
            and _line_count(words[i : j + 1], max_chars) <= max_lines
        ):
            j += 1
        if j < len(run):  # back up to the best break that keeps at least half the text
            half = len(" ".join(words[i:j])) / 2
            fair = [k for k in range(i + 1, j + 1) if len(" ".join(words[i:k])) >= half]
            j = min(fair, key=lambda k: (_break_cost(words[k - 1], words[k]), -k))
        chunks.append(run[i:j])
        i = j
    return chunks


def cues(
    segments: list[dict[str, Any]],
    *,
    max_chars_per_line: int = 42,
    max_lines: int = 2,
    max_seconds: float = 7.0,
    min_seconds: float = 1.0,
    linger_seconds: float = 0.5,
    pause_seconds: float = 1.5,
    until: float | None = None,
) -> list[Cue]:
    """The captions of a transcript's segments (see the module's docstring for the rules).
    `until`, the video's end: the time added for reading never runs past it."""
    ordered = sorted(segments, key=lambda s: (float(s.get("start") or 0), float(s.get("end") or 0)))
    groups: list[list[Token]] = []
    floor = 0.0
    for segment in ordered:
        run: list[Token] = []
        for word, start, end in _tokens(segment):
            start = max(start, floor)  # word starts never go back, across segments too
            floor = start
            if run and start - run[-1][2] > pause_seconds:
                groups += _chunks(run, max_chars_per_line, max_lines, max_seconds)
                run = []
            run.append((word, start, max(end, start)))
        groups += _chunks(run, max_chars_per_line, max_lines, max_seconds)

    starts, previous = [], -1
    for group in groups:
        previous = max(round(group[0][1] * 1000), previous + 1)
        starts.append(previous)
    result = []
    for n, (group, start) in enumerate(zip(groups, starts, strict=True)):
        end = max(round((group[-1][2] + linger_seconds) * 1000), start + round(min_seconds * 1000))
        end = min(end, start + round(max_seconds * 1000))
        if n + 1 < len(starts):
            end = min(end, starts[n + 1])
        if until is not None:  # never shorter than its words, though
            end = min(end, max(round(until * 1000), round(group[-1][2] * 1000)))
        end = max(end, start + 1)
        lines = _lines([w for w, _, _ in group], max_chars_per_line)
        result.append(Cue(start / 1000, end / 1000, lines))
    return result


def _timestamp(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _blocks(cue_list: list[Cue], separator: str) -> list[tuple[str, list[str]]]:
    """Each cue's timing line and text lines (cleaned again: a Cue may be built by hand)."""
    blocks = []
    for cue in cue_list:
        if lines := [line for line in map(_clean, cue.lines) if line]:
            timing = f"{_timestamp(cue.start, separator)} --> {_timestamp(cue.end, separator)}"
            blocks.append((timing, lines))
    return blocks


def to_vtt(cue_list: list[Cue]) -> str:
    """WebVTT: "WEBVTT", then each cue after a blank line; LF line endings."""
    out = ["WEBVTT\n"]
    for timing, lines in _blocks(cue_list, "."):
        text = "\n".join(
            line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for line in lines
        )
        out.append(f"\n{timing}\n{text}\n")
    return "".join(out)


def to_srt(cue_list: list[Cue]) -> str:
    """SubRip: cues numbered from 1, each followed by a blank line; LF line endings."""
    return "".join(
        f"{n}\n{timing}\n" + "\n".join(lines) + "\n\n"
        for n, (timing, lines) in enumerate(_blocks(cue_list, ","), start=1)
    )


def render(segments: list[dict[str, Any]], format: str, *, until: float | None = None) -> str:
    """A transcript's segments as captions in `format` (a key of FORMATS), ending by `until`."""
    cue_list = cues(segments, until=until)
    return to_vtt(cue_list) if format == "vtt" else to_srt(cue_list)
