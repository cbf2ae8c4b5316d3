"""LineSplitter: framing, partial lines, prompt, garbage (docs/modems.md)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.modem.lines import PROMPT, LineSplitter, encode_line, is_garbled


def feed_all(chunks: list[bytes], max_line: int = 8192) -> list[str]:
    splitter = LineSplitter(max_line)
    out: list[str] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


def test_crlf_framing_drops_empty_lines() -> None:
    assert feed_all([b"\r\n+CSQ: 21,99\r\n\r\nOK\r\n"]) == ["+CSQ: 21,99", "OK"]


def test_echo_with_lone_cr_and_double_cr() -> None:
    assert feed_all([b"ATE0\r\r\nOK\r\n"]) == ["ATE0", "OK"]
    assert feed_all([b"AT\rOK\r"]) == ["AT", "OK"]


def test_line_split_across_reads_including_between_cr_and_lf() -> None:
    chunks = [b"\r\n+CM", b'TI: "SM",', b"3\r", b"\n\r\nO", b"K\r", b"\n"]
    assert feed_all(chunks) == ['+CMTI: "SM",3', "OK"]


def test_pdu_prompt_without_line_end_is_emitted() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"AT+CMGS=23\r\r\n> ") == ["AT+CMGS=23", PROMPT]
    assert splitter.pending() == b""
    # Chunked: ">" and " " in separate reads still give one prompt.
    splitter = LineSplitter()
    assert splitter.feed(b"\r\n>") == [PROMPT]
    assert splitter.feed(b" ") == []


def test_pdu_prompt_followed_by_a_urc_in_the_same_read() -> None:
    # Seen in the field and from the simulator: an SMS arrives while the modem waits for
    # the PDU, and its +CMTI comes right behind the prompt. Losing the prompt here left
    # AT+CMGS waiting for its whole send timeout while the receiver starved.
    splitter = LineSplitter()
    assert splitter.feed(b'\r\n> \r\n+CMTI: "SM",0\r\n') == [PROMPT, '+CMTI: "SM",0']
    assert feed_all([b"\r\n>\r"]) == [PROMPT]


def test_nuls_stripped_and_leading_junk_removed() -> None:
    assert feed_all([b"\x00\x00O\x00K\r\n"]) == ["OK"]
    assert feed_all([b"\xff\xff\xffOK\r\n"]) == ["OK"]
    assert feed_all([b"\x1a\r\n+CMGS: 4\r\n"]) == ["+CMGS: 4"]


def test_invalid_utf8_kept_recoverably_and_flagged() -> None:
    lines = feed_all([b"ab\xc3\x28cd\r\n"])
    assert len(lines) == 1
    assert is_garbled(lines[0])
    assert encode_line(lines[0]) == b"ab\xc3\x28cd"
    assert not is_garbled("+CSQ: 21,99")
    assert not is_garbled("中国移动")


def test_overlong_line_is_cut_and_counted() -> None:
    splitter = LineSplitter(max_line=16)
    out = splitter.feed(b"A" * 40 + b"\r\nOK\r\n")
    assert out[-1] == "OK"
    assert "".join(out[:-1]) == "A" * 40
    assert splitter.overflows == 2


@given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=40), max_size=20))
def test_any_bytes_any_chunking_never_raises_and_respects_bound(
    data: bytes, cuts: list[int]
) -> None:
    splitter = LineSplitter(max_line=64)
    pos = 0
    out: list[str] = []
    for cut in cuts:
        out.extend(splitter.feed(data[pos : pos + cut]))
        pos += cut
    out.extend(splitter.feed(data[pos:]))
    assert all(line and "\r" not in line and "\n" not in line for line in out)
    assert all(len(encode_line(line)) <= 64 for line in out)


@given(
    st.lists(st.sampled_from(["OK", "+CSQ: 1,2", '+CMTI: "ME",0', "RDY"]), max_size=8),
    st.integers(1, 7),
)
def test_chunking_does_not_change_lines(lines: list[str], size: int) -> None:
    data = b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert feed_all(chunks) == lines
