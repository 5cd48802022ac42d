"""app/captions.py: captions cut from a transcript, checked by parsing them with caption libraries.

WebVTT output is read back with webvtt-py (strict), SRT output with srt; neither reader is the code
under test, so a file the libraries read differently from what we meant fails here.
"""

import html
import io
import re
from typing import Any

import pytest
import srt
import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from app import captions
from app.captions import FORMATS, Cue, cues, media_type, to_srt, to_vtt

MAX_CHARS, MAX_LINES, MAX_SECONDS, LINGER = 42, 2, 7.0, 0.5

PARAGRAPH = (
    "So the thing is, we went to the market yesterday and bought a lot of apples. Then we came "
    "home and cooked a pie for the whole family, which was delicious! Everyone loved it, and we "
    "will do it again next week because it was so much fun. My grandmother, who taught me the "
    "recipe when I was a child, would have been proud of us; she always said that the secret is "
    "patience, good butter and a very hot oven."
)


def whisper_words(text: str, start: float = 0.0, step: float = 0.4, length: float = 0.3):
    """Words as Whisper gives them: a leading space, punctuation attached, rising times."""
    return [
        {
            "start": start + i * step,
            "end": start + i * step + length,
            "word": f" {w}",
            "probability": 0.9,
        }
        for i, w in enumerate(text.split())
    ]


def segment(text: str, start: float, end: float, words: list[dict[str, Any]] | None = None):
    return {"start": start, "end": end, "text": text, "words": words}


def parse_vtt(text: str) -> list[tuple[float, float, list[str]]]:
    captions = webvtt.from_buffer(io.StringIO(text), strict=True).captions
    return [
        (
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            [html.unescape(line) for line in c.lines],
        )
        for c in captions
    ]


def parse_srt(text: str) -> list[tuple[float, float, list[str]]]:
    subtitles = list(srt.parse(text))
    assert [s.index for s in subtitles] == list(range(1, len(subtitles) + 1))
    return [
        (s.start.total_seconds(), s.end.total_seconds(), s.content.split("\n")) for s in subtitles
    ]


def check_invariants(result: list[Cue], words: list[str]) -> None:
    """The rules every caption file keeps, read back through both libraries."""
    for cue in result:
        assert 1 <= len(cue.lines) <= MAX_LINES
        for line in cue.lines:
            assert line and line == line.strip()
            assert len(line) <= MAX_CHARS or " " not in line  # only a lone word may overflow
        assert 0 < cue.end - cue.start <= MAX_SECONDS + 1e-9
    for cue, following in zip(result, result[1:], strict=False):
        assert cue.start < following.start
        assert cue.end <= following.start

    expected = [(c.start, c.end, c.lines) for c in result]
    vtt_text, srt_text = to_vtt(result), to_srt(result)
    assert parse_vtt(vtt_text) == expected
    assert parse_srt(srt_text) == expected
    for output in (vtt_text, srt_text):
        assert "\n\n\n" not in output
        for line in output.split("\n"):
            if "-->" in line:
                assert re.fullmatch(
                    r"\d{2,}:\d\d:\d\d[.,]\d{3} --> \d{2,}:\d\d:\d\d[.,]\d{3}", line
                )
    # Every word of the input once, in order, nothing else: joined as the libraries read it.
    for parsed in (parse_vtt(vtt_text), parse_srt(srt_text)):
        assert " ".join(" ".join(lines) for _, _, lines in parsed).split() == words


def test_long_segment_with_words_becomes_several_cues():
    words = whisper_words(PARAGRAPH, start=12.0)
    result = cues([segment(PARAGRAPH, 12.0, words[-1]["end"], words)])

    assert len(result) >= 4
    check_invariants(result, PARAGRAPH.split())
    starts = {round(w["start"], 3) for w in words}
    ends = {round(w["end"], 3) for w in words}
    for n, cue in enumerate(result):
        assert cue.start in starts  # a cue starts at its first word
        last_end = max(e for e in ends if e <= cue.end)  # and ends at its last word's end...
        assert cue.end - last_end <= LINGER + 1e-9  # ...plus at most the readability extension
        if n + 1 < len(result) and cue.end < result[n + 1].start:
            assert cue.end == pytest.approx(last_end + LINGER)


def test_cues_and_lines_break_at_natural_points():
    # The first cue ends with the first sentence, not wherever the characters ran out.
    first = "We went to the market early yesterday and bought apples."
    text = f"{first} Then we came home and cooked a pie for the family."
    result = cues([segment(text, 0.0, 10.0, whisper_words(text, step=0.3))])
    assert " ".join(result[0].lines) == first

    # Two lines: after the comma rather than in the exact middle; both within the limit.
    text = "We went to the market yesterday, and then we bought some apples"
    [cue] = cues([segment(text, 0.0, 4.0, whisper_words(text, step=0.3))])
    assert cue.lines == ["We went to the market yesterday,", "and then we bought some apples"]

    # No punctuation: balanced lines, and one line whenever the text fits on one.
    text = "the quick brown fox jumps over the lazy dog near the river bank today"
    [cue] = cues([segment(text, 0.0, 4.0)])
    assert len(cue.lines) == 2 and abs(len(cue.lines[0]) - len(cue.lines[1])) <= 12
    [cue] = cues([segment("  Hello   there,\n general  Kenobi.  ", 0.0, 2.0)])
    assert cue.lines == ["Hello there, general Kenobi."]


def test_without_word_times_time_is_shared_by_characters():
    words = [("w" * (1 + i % 7)) + str(i) for i in range(60)]
    text, start, end = " ".join(words), 100.0, 160.0
    result = cues([segment(text, start, end, None)])

    check_invariants(result, words)
    assert len(result) > 3
    total = sum(map(len, words))
    done = 0
    for cue in result:
        # A cue starts where its first word's share of the segment's time begins.
        assert cue.start == pytest.approx(start + (end - start) * done / total, abs=0.001)
        done += sum(len(w) for w in " ".join(cue.lines).split())
    assert done == total
    assert result[-1].end <= end + LINGER + 1e-9


def test_empty_word_list_counts_as_absent():
    [cue] = cues([segment("Hello there.", 2.0, 4.0, [])])
    assert (cue.start, cue.end, cue.lines) == (2.0, 4.5, ["Hello there."])


def test_special_characters_stay_text():
    text = "Use <b>&</b> tags --> here & there"
    shown = "Use <b>&</b> tags → here & there"
    for words in (None, whisper_words(text)):
        result = cues([segment(text, 0.0, 5.0, words)])
        assert [" ".join(c.lines) for c in result] == [shown]
        check_invariants(result, shown.split())
        vtt_text = to_vtt(result)
        assert "&lt;b&gt;&amp;&lt;/b&gt;" in vtt_text and "<b>" not in vtt_text
        assert "<b>&</b>" in to_srt(result)  # SRT has no escaping: written as it is


def test_hand_made_cue_is_cleaned_when_written():
    cue = Cue(1.0, 2.0, ["a --> b", "", "  c\n\nd  "])
    assert to_vtt([cue]) == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na → b\nc d\n"
    assert to_srt([cue]) == "1\n00:00:01,000 --> 00:00:02,000\na → b\nc d\n\n"


def test_segments_with_empty_text_produce_nothing():
    words = whisper_words("ghost words")
    assert cues([segment("", 0.0, 1.0, words), segment(" \n\t ", 1.0, 2.0, None)]) == []
    result = cues([segment("One.", 0.0, 1.0), segment("   ", 1.0, 2.0), segment("Two.", 2.0, 3.0)])
    assert [c.lines for c in result] == [["One."], ["Two."]]


def test_empty_transcript():
    assert cues([]) == []
    assert to_vtt([]) == "WEBVTT\n"
    assert to_srt([]) == ""
    assert parse_vtt(to_vtt([])) == []
    assert parse_srt(to_srt([])) == []


def test_times_past_an_hour():
    result = cues([segment("Hello there.", 3725.5, 3727.0)])
    assert to_vtt(result) == "WEBVTT\n\n01:02:05.500 --> 01:02:07.500\nHello there.\n"
    assert to_srt(result) == "1\n01:02:05,500 --> 01:02:07,500\nHello there.\n\n"
    check_invariants(result, ["Hello", "there."])
    assert "100:00:00.000 --> 100:00:01.000" in to_vtt([Cue(360000.0, 360001.0, ["x"])])


def test_short_cue_lasts_a_second_unless_the_next_one_starts():
    result = cues([segment("Yes.", 0.0, 0.2), segment("No.", 5.0, 5.2), segment("Ok.", 5.6, 6.0)])
    assert [(c.start, c.end) for c in result] == [(0.0, 1.0), (5.0, 5.6), (5.6, 6.6)]


def test_a_long_pause_starts_a_new_cue():
    words = whisper_words("Hello there", step=0.5, length=0.4) + whisper_words(
        "general Kenobi", start=4.0, step=0.5, length=0.4
    )
    result = cues([segment("Hello there general Kenobi", 0.0, 5.0, words)])
    assert [(c.start, c.end, c.lines) for c in result] == [
        (0.0, 1.4, ["Hello there"]),
        (4.0, 5.4, ["general Kenobi"]),
    ]


def test_a_200_character_word_overflows_its_own_line():
    giant = "x" * 200
    text = f"It is called {giant} and that is the whole name of it, honestly and truly."
    for words in (None, whisper_words(text)):
        result = cues([segment(text, 0.0, 12.0, words)])
        check_invariants(result, text.split())
        lines = [line for c in result for line in c.lines]
        assert lines.count(giant) == 1  # alone on its line, never cut
        assert all(len(line) <= MAX_CHARS for line in lines if line != giant)


def test_unsorted_and_overlapping_segments():
    a, b, c = "First we talk about this.", "Then we talk about that.", "And we end."
    segments = [
        segment(c, 9.0, 10.0, whisper_words(c, start=9.0)),
        segment(b, 4.8, 8.0, whisper_words(b, start=4.8)),  # starts before a ends
        segment(a, 3.0, 5.5, whisper_words(a, start=3.5)),
        segment("Again.", 4.8, 5.0, None),  # same start as b
    ]
    result = cues(segments)
    check_invariants(result, f"{a} Again. {b} {c}".split())  # sorted by start, then end
    assert result[0].start == 3.5


def test_media_types():
    assert FORMATS == {
        "vtt": "text/vtt; charset=utf-8",
        "srt": "application/x-subrip; charset=utf-8",
    }
    assert media_type("vtt") == "text/vtt; charset=utf-8"
    assert media_type("srt") == "application/x-subrip; charset=utf-8"
    with pytest.raises(ValueError):
        media_type("ass")


WORD = st.one_of(
    st.text(st.sampled_from("abcXYZéß→,.!?'\"&<>-"), min_size=1, max_size=12),
    st.text(st.sampled_from("abc-<>"), min_size=43, max_size=80),  # longer than a line
)


@st.composite
def transcripts(draw):
    words = draw(st.lists(WORD, min_size=1, max_size=60))
    segments, t, i = [], draw(st.floats(0, 5000)), 0
    while i < len(words):
        part = words[i : i + draw(st.integers(1, 25))]
        i += len(part)
        timed = []
        for n, word in enumerate(part):
            # Gaps, some longer than a pause; segments start after the previous one ends.
            t += draw(st.floats(0.001 if n == 0 else 0, 2.5))
            length = draw(st.floats(0, 3))
            timed.append({"start": t, "end": t + length, "word": f" {word}", "probability": None})
            t += length
        with_words = draw(st.booleans())
        segments.append(
            segment(" ".join(part), timed[0]["start"], t, timed if with_words else None)
        )
    return words, draw(st.permutations(segments))


@settings(max_examples=200, deadline=None)
@given(transcripts())
def test_property_invariants(case):
    words, segments = case
    result = cues(segments)
    expected = [w.replace("-->", "→") for w in words]
    # Shuffled segments do not overlap here, so reading order is the words' order.
    check_invariants(result, expected)


def test_the_reading_time_added_never_runs_past_the_video_but_words_are_kept():
    words = [
        {"start": 0.0, "end": 0.4, "word": " Hello", "probability": 0.9},
        {"start": 0.5, "end": 2.0, "word": " there.", "probability": 0.9},
    ]
    segment = {"start": 0.0, "end": 2.0, "text": "Hello there.", "words": words}

    assert [c.end for c in captions.cues([segment])] == [2.5]  # 0.5 s to read it
    assert [c.end for c in captions.cues([segment], until=2.2)] == [2.2]
    assert [c.end for c in captions.cues([segment], until=1.0)] == [2.0]  # its words still show
    vtt = webvtt.from_buffer(io.StringIO(captions.render([segment], "vtt", until=2.2)))
    assert vtt[0].end == "00:00:02.200"
