"""The streaming call parser: pieces for representative answers, at every chunk boundary."""

import pytest

from lingma_flask.pipeline.tools import parser as parser_module
from lingma_flask.pipeline.tools.parser import Broken
from lingma_flask.pipeline.tools.parser import Call
from lingma_flask.pipeline.tools.parser import CallParser
from lingma_flask.pipeline.tools.parser import Text

MARKUP = ("<tool_call>", "</tool_call>", "<function=", "</function>", "<parameter=")

JSON_BLOCK = '<tool_call>\n{"name": "read_file", "arguments": {"path": "README.md"}}\n</tool_call>'
TRICKY_JSON_BLOCK = (
    '<tool_call>\n{"name": "grep", "arguments": {"pattern": "x</tool_call>{y}\\"}", '
    '"dir": "C:\\\\src\\\\", "n": 2}}\n</tool_call>'
)
XML_BLOCK = (
    "<tool_call>\n<function=write_file>\n<parameter=path>\nout.txt\n</parameter>\n"
    "<parameter=content>\nline <1> </tool_call> a<b\n</parameter>\n</function>\n</tool_call>"
)
FENCED_BLOCK = '<tool_call>\n```json\n{"name": "list_dir", "arguments": {"dir": "."}}\n```\n</tool_call>'
MIXED = (
    "I'll check three things (a<b, <div>).\n"
    + TRICKY_JSON_BLOCK + "\n\n" + XML_BLOCK + "\n" + FENCED_BLOCK + "\n"
    + "Done — 完成了。"
)
MIXED_PROSE = "I'll check three things (a<b, <div>).\n" + "\n" + "Done — 完成了。"
MIXED_CALLS = [
    ("grep", {"pattern": 'x</tool_call>{y}"}', "dir": "C:\\src\\", "n": 2}),
    ("write_file", {"path": "\nout.txt\n", "content": "\nline <1> </tool_call> a<b\n"}),
    ("list_dir", {"dir": "."}),
]
SHORT = (
    'a<b\n<tool_call>{"name":"f","arguments":{"s":"</tool_call>\\\\"}}</tool_call>\n'
    "<function=g><parameter=p>1</parameter></function>z<"
)

ANSWERS = [
    # (answer, expected prose, expected [(name, arguments)], expected Broken count)
    ("Let me read that file.\n" + JSON_BLOCK + "\n",
     "Let me read that file.\n", [("read_file", {"path": "README.md"})], 0),
    (MIXED, MIXED_PROSE, MIXED_CALLS, 0),
    ("Sure.\n<function=run>\n<parameter=cmd>\nls -la\n</parameter>\n</function>\nafter",
     "Sure.\nafter", [("run", {"cmd": "\nls -la\n"})], 0),
    ("<tool_call>\n{'name': 'a', 'arguments': {'x': True, 'y': None, 'z': [1, 2,],},}\n</tool_call>",
     "", [("a", {"x": True, "y": None, "z": [1, 2]})], 0),
    ("我来读取文件。\n" + JSON_BLOCK.replace("README.md", "文档/说明.md") + "\n好的",
     "我来读取文件。\n好的", [("read_file", {"path": "文档/说明.md"})], 0),
    ('<tool_call>\n{"name": "a", "arguments": "{\\"x\\": 1}"}\n</tool_call>', "", [("a", {"x": 1})], 0),
    ('<tool_call>\n{"name": "a", "parameters": {"x": 1}}\n</tool_call>', "", [("a", {"x": 1})], 0),
    ('<tool_call>\n{"name": "a"}\n</tool_call>', "", [("a", {})], 0),
    ('<tool_call>\n{"type": "function", "function": {"name": "a", "arguments": {"q": "1"}}}\n</tool_call>',
     "", [("a", {"q": "1"})], 0),
    ('<tool_call>\n[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {}}]\n</tool_call>',
     "", [("a", {}), ("b", {})], 0),
    ('<tool_call>\n{"name": "a", "arguments": {}}\n{"name": "b", "arguments": {}}\n</tool_call>',
     "", [("a", {}), ("b", {})], 0),
    ("<tool_call>\n<function=a>\n<parameter=x>\n1\n<parameter=y>\n2\n</function>\n</tool_call>",
     "", [("a", {"x": "\n1\n", "y": "\n2\n"})], 0),
    ("Text first <tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1", "Text first ", [], 1),
    ("<tool_call>\nnot json at all\n</tool_call>\nafter", "after", [], 1),
    ("<tool_call>\n</tool_call>", "", [], 1),
    ("<tool_call>\n{\"name\": 'oops}\n</tool_call>\nafter", "after", [], 1),
    ("ok <function=run>\n<parameter=cmd>\nls", "ok ", [], 1),
    ("Use `a < b`, <div> and <tool_ca or <func but no call. <", "Use `a < b`, <div> and <tool_ca or "
     "<func but no call. <", [], 0),
    ("x </tool_call>\ny", "x y", [], 0),
    ("Ok\n<function=a>\n<parameter=x>\n1\n</parameter>\n</function>\n</tool_call>\nbye",
     "Ok\nbye", [("a", {"x": "\n1\n"})], 0),
    ("<tool_call>\n<function=a>\n<parameter=x>\n1\n</tool_call>", "", [("a", {"x": "\n1"})], 0),
    (SHORT, "a<b\nz<", [("f", {"s": "</tool_call>\\"}), ("g", {"p": "1"})], 0),
]


def parse(chunks):
    """Feed chunks to a fresh parser and return every piece, with the close() ones."""
    parser = CallParser()
    pieces = []
    for chunk in chunks:
        pieces += parser.feed(chunk)
    return pieces + parser.close()


def merged(pieces):
    """Join adjacent Text pieces, so pieces from different chunkings can be compared."""
    out = []
    for piece in pieces:
        if isinstance(piece, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + piece.text)
        else:
            out.append(piece)
    return out


def prose(pieces):
    return "".join(piece.text for piece in pieces if isinstance(piece, Text))


def calls(pieces):
    return [(piece.name, piece.arguments) for piece in pieces if isinstance(piece, Call)]


def assert_no_markup_in_text(pieces):
    for piece in pieces:
        if isinstance(piece, Text):
            assert not any(tag in piece.text for tag in MARKUP), piece


@pytest.mark.parametrize("answer, expected_prose, expected_calls, broken", ANSWERS)
def test_whole_answer(answer, expected_prose, expected_calls, broken):
    pieces = parse([answer])
    assert prose(pieces) == expected_prose
    assert calls(pieces) == expected_calls
    assert sum(isinstance(piece, Broken) for piece in pieces) == broken
    assert_no_markup_in_text(pieces)


@pytest.mark.parametrize("answer, expected_prose, expected_calls, broken", ANSWERS)
def test_every_split_position_gives_the_same_pieces(answer, expected_prose, expected_calls, broken):
    whole = merged(parse([answer]))
    for index in range(len(answer) + 1):
        pieces = parse([answer[:index], answer[index:]])
        assert merged(pieces) == whole, index
        assert_no_markup_in_text(pieces)
        assert prose(pieces) == expected_prose
        assert calls(pieces) == expected_calls


@pytest.mark.parametrize("answer, expected_prose, expected_calls, broken", ANSWERS)
def test_one_character_at_a_time(answer, expected_prose, expected_calls, broken):
    pieces = parse(list(answer))
    assert merged(pieces) == merged(parse([answer]))
    assert prose(pieces) == expected_prose
    assert calls(pieces) == expected_calls


def test_every_pair_of_split_positions_in_a_short_answer():
    whole = merged(parse([SHORT]))
    assert calls(whole) == [("f", {"s": "</tool_call>\\"}), ("g", {"p": "1"})]
    for first in range(len(SHORT) + 1):
        for second in range(first, len(SHORT) + 1):
            pieces = parse([SHORT[:first], SHORT[first:second], SHORT[second:]])
            assert merged(pieces) == whole, (first, second)


@pytest.mark.parametrize("chunks, released", [
    (["Hello, world"], ["Hello, world"]),
    (["a < b", " and c"], ["a < b", " and c"]),
    (["see <", "div>"], ["see ", "<div>"]),
    (["x <tool_c", "ool> y"], ["x ", "<tool_cool> y"]),
    (["x <func", "tional"], ["x ", "<functional"]),
    (["end </", "b>"], ["end ", "</b>"]),
])
def test_text_is_released_at_once_and_only_a_possible_tag_is_held(chunks, released):
    parser = CallParser()
    for chunk, expected in zip(chunks, released, strict=True):
        assert prose(parser.feed(chunk)) == expected
    assert parser.close() == []


@pytest.mark.parametrize("tail", ["<", "<t", "<tool_call", "<f", "<function", "</", "</tool_call"])
def test_a_possible_tag_start_is_held_then_released_at_close(tail):
    parser = CallParser()
    assert parser.feed("prose " + tail) == [Text("prose ")]
    assert parser.close() == [Text(tail)]


def test_plain_text_takes_the_fast_path(monkeypatch):
    def no_scan(self, chunk):
        raise AssertionError("the fast path should not scan")
    monkeypatch.setattr(CallParser, "_scan", no_scan)
    parser = CallParser()
    for chunk in ["Plain text, ", "20 tools offered, ", "no calls. 中文"]:
        pieces = parser.feed(chunk)
        assert type(pieces) is list
        assert pieces == [Text(chunk)]
    assert parser.feed("") == []
    assert parser.close() == []


def test_the_parser_does_not_touch_tool_checking(monkeypatch):
    monkeypatch.setattr(parser_module, "decode_block", None)
    assert parse(["plain answer <b>bold</b> 1 < 2"]) == [Text("plain answer <b>bold</b> 1 < 2")]


def test_a_call_comes_out_as_soon_as_its_block_closes():
    parser = CallParser()
    assert parser.feed("Reading.\n" + JSON_BLOCK[:-3]) == [Text("Reading.\n")]
    pieces = parser.feed(JSON_BLOCK[-3:])
    assert pieces == [Call(JSON_BLOCK, "read_file", {"path": "README.md"})]
    assert parser.feed("\nThen more.") == [Text("Then more.")]


def test_unclosed_block_is_broken_with_its_raw_text():
    pieces = parse(["Text <tool_call>\n", '{"name": "a", "arguments": {"x": 1}}\n</tool_ca'])
    assert pieces[0] == Text("Text ")
    assert pieces[1] == Broken('<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_ca',
                               "the tool call block was not closed before the answer ended")
    assert len(pieces) == 2


@pytest.mark.parametrize("block, reason", [
    ("<tool_call>\nnot json\n</tool_call>", "not valid JSON"),
    ("<tool_call>\n</tool_call>", "empty"),
    ("<tool_call>\n[1, 2]\n</tool_call>", "must be a JSON object"),
    ("<tool_call>\n[]\n</tool_call>", "must be a JSON object"),
    ("<tool_call>\n<foo>\n</tool_call>", "no <function=...>"),
    ('<tool_call>\n{"name": "a", "arguments": {"x": NaN}}\n</tool_call>', "not valid JSON"),
])
def test_unreadable_blocks_are_broken_with_a_reason(block, reason):
    pieces = parse([block])
    assert len(pieces) == 1
    assert isinstance(pieces[0], Broken)
    assert pieces[0].raw == block
    assert reason in pieces[0].reason


def test_xml_calls_keep_raw_strings_and_say_so():
    pieces = parse(["<tool_call>\n<function=a>\n<parameter=n>\n5\n</parameter>\n</function>\n</tool_call>"])
    assert pieces == [Call(pieces[0].raw, "a", {"n": "\n5\n"}, style="xml")]


def test_arguments_string_that_is_not_json_is_kept():
    pieces = parse(['<tool_call>\n{"name": "a", "arguments": "just words"}\n</tool_call>'])
    assert calls(pieces) == [("a", "just words")]


def test_missing_name_gives_a_call_without_name():
    pieces = parse(['<tool_call>\n{"arguments": {"x": 1}}\n</tool_call>'])
    assert calls(pieces) == [(None, {"x": 1})]


def test_many_blocks_left_open_by_the_scan_are_all_read_at_close():
    answer = "<tool_call>\n<function=a>\n<parameter=x>\n1\n</tool_call>\n" * 5000 + "tail"
    pieces = parse([answer])
    assert calls(pieces) == [("a", {"x": "\n1"})] * 5000
    assert prose(pieces) == "tail"
