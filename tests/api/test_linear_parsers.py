"""Every parser of model text is linear (issue 13, item 1), and reads what the old regexes read.

Two kinds of test. Properties (hypothesis) compare each scanner with the regex it replaced, on
short texts built from the tokens that matter, where the regex is quick: same language, same
result. Adversarial inputs then run each parser at a size where the old code needed minutes
(cubic or quadratic) and a linear scan needs milliseconds; each gets a CPU budget of several
seconds, far above the linear cost and far below the old one, so a load spike cannot fail it.
bench/parsers_linear.py prints the growth figures.
"""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from lingma_flask.lingma.think import ThinkSplitter
from lingma_flask.pipeline.output import OutputFilter
from lingma_flask.pipeline.tools.lenient import forgive
from lingma_flask.pipeline.tools.lenient import loads
from lingma_flask.pipeline.tools.lenient import strip_fence
from lingma_flask.pipeline.tools.parser import Broken
from lingma_flask.pipeline.tools.parser import Call
from lingma_flask.pipeline.tools.parser import CallParser
from lingma_flask.pipeline.tools.payload import OPENERS
from lingma_flask.pipeline.tools.payload import decode_block
from lingma_flask.pipeline.tools.xmlcall import functions
from lingma_flask.pipeline.tools.xmlcall import parameters

BUDGET = 5.0   # CPU seconds: a linear scan of these inputs takes well under 0.2 s
PROPERTY = settings(max_examples=400, deadline=None, database=None, derandomize=True)

# -- the regexes the scanners replaced: the reference grammar ---------------------------------
OLD_FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)\n?[ \t]*```", re.S)
OLD_SLIPS = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'
    r"|'([^'\\]*(?:\\.[^'\\]*)*)'"
    r"|,(?=\s*[}\]])"
    r"|\b(?:True|False|None)\b",
    re.S,
)
OLD_IN_SINGLE = re.compile(r"\\(.)|\"", re.S)
OLD_FUNCTION = re.compile(r"<function=\s*[\"']?([^>\"'\s]*)[\"']?\s*>(.*?)(?:</function>|\Z)", re.S)
OLD_PARAMETER = re.compile(
    r"<parameter=\s*[\"']?([^>\"']*?)[\"']?\s*>(.*?)(?:</parameter>|(?=<parameter=)|\Z)", re.S
)


def old_strip_fence(text):
    text = text.strip()
    match = OLD_FENCE.fullmatch(text)
    return match.group(1).strip() if match else text


def old_forgive(text):
    def requote(match):
        if match.group(1) is None:
            return '\\"'
        return "'" if match.group(1) == "'" else match.group(0)

    def fix(match):
        token = match.group(0)
        if token[0] == '"':
            return token
        if token[0] == "'":
            return '"' + OLD_IN_SINGLE.sub(requote, match.group(1)) + '"'
        return "" if token == "," else {"True": "true", "False": "false", "None": "null"}[token]
    return OLD_SLIPS.sub(fix, text)


def old_xml(text):
    return [(m.group(1), {name.strip(): value for name, value in OLD_PARAMETER.findall(m.group(2))})
            for m in OLD_FUNCTION.finditer(text)]


def old_openers(text):
    while text.startswith("<tool_call>"):
        text = text[len("<tool_call>"):].lstrip()
    return text


def texts(*tokens, size=40):
    return st.lists(st.sampled_from(tokens), max_size=size).map("".join)


FENCE_TEXT = texts("```", "`", "``", " ", "\t", "\n", "\r\n", "json", "c++", "x-y", "_", "{", "}",
                   "é", "٣", "a b", "\u3000")
SLIP_TEXT = texts('"', "'", "\\", ",", " ", "\n", "}", "]", "{", "[", ":", "True", "False", "None",
                  "x", "1", "Truex", "_None", "é")
XML_TEXT = texts("<function=", "</function>", "<parameter=", "</parameter>", ">", "<", '"', "'",
                 " ", "\n", "\t", "a", "b", "=", "/", size=50)
OPENER_TEXT = texts("<tool_call>", " ", "\n", "x", "<", "<tool_call", "\u3000")
THINK_TEXT = texts("```think::", "```", "\n", "a", "`", " ", "think::", "``", "\n```")


def cut(text: str, points: list[int]) -> list[str]:
    """Cut text at the given points (taken modulo its length + 1)."""
    marks = sorted({p % (len(text) + 1) for p in points} | {0, len(text)})
    return [text[a:b] for a, b in zip(marks, marks[1:], strict=False)] or [""]


# -- properties: the same grammar ---------------------------------------------------------------
@PROPERTY
@given(FENCE_TEXT)
def test_strip_fence_reads_what_the_fence_regex_read(text):
    assert strip_fence(text) == old_strip_fence(text)


@PROPERTY
@given(SLIP_TEXT)
def test_forgive_fixes_what_the_slips_regex_fixed(text):
    assert forgive(text) == old_forgive(text)


@PROPERTY
@given(XML_TEXT)
def test_xml_scan_reads_what_the_xml_regexes_read(text):
    assert [(name, parameters(body)) for name, body in functions(text)] == old_xml(text)


@PROPERTY
@given(XML_TEXT)
def test_xml_parameters_read_what_the_parameter_regex_read(body):
    expected = {name.strip(): value for name, value in OLD_PARAMETER.findall(body)}
    assert parameters(body) == expected


@PROPERTY
@given(OPENER_TEXT)
def test_repeated_openers_are_skipped_as_before(text):
    assert text[OPENERS.match(text).end():] == old_openers(text)


@PROPERTY
@given(THINK_TEXT, st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_think_splitting_does_not_depend_on_chunks(text, points):
    def split(chunks):
        splitter = ThinkSplitter()
        answer = "".join(splitter.feed(c) for c in chunks) + splitter.flush()
        return answer, splitter.reasoning
    assert split(cut(text, points)) == split([text])


@PROPERTY
@given(st.sampled_from(["ab", "ab" * 150]), st.data())
def test_output_ends_before_the_first_stop_whatever_the_chunks(stop, data):
    text = data.draw(texts("a", "b", "x", stop, stop[:len(stop) // 2], stop[len(stop) // 2:]))
    chunks = cut(text, data.draw(st.lists(st.integers(min_value=0, max_value=4000), max_size=8)))
    out = OutputFilter(stops=(stop,))
    sent = "".join(out.feed(chunk) for chunk in chunks) + out.flush()
    found = text.find(stop)
    assert sent == (text if found < 0 else text[:found])
    assert out.finish_reason == "stop" and out.stop_sequence == (None if found < 0 else stop)


# -- adversarial inputs: sizes the old code took minutes on --------------------------------------
def cpu_seconds(work, *args):
    start = time.process_time()
    work(*args)
    return time.process_time() - start


def within_budget(work, *args):
    spent = cpu_seconds(work, *args)
    assert spent < BUDGET, f"{spent:.2f} s of CPU: not linear"


def loads_or_error(text):
    try:
        loads(text)
    except ValueError:
        pass


def parse(text, size=None):
    parser = CallParser()
    chunks = [text] if size is None else [text[i:i + size] for i in range(0, len(text), size)]
    pieces = [piece for chunk in chunks for piece in parser.feed(chunk)]
    return pieces + parser.close()


def test_an_unclosed_fence_before_spaces():
    for spaces in (5_000, 100_000):
        text = "```" + " " * spaces + "x"
        within_budget(strip_fence, text)   # the regex: 40 s at 5,000 spaces
        assert strip_fence(text) == text.strip()


def test_a_fence_around_a_sea_of_spaces():
    text = "```json" + " \t\n" * 50_000 + "{}" + " \n" * 50_000 + "```"
    within_budget(strip_fence, text)
    assert strip_fence(text) == "{}"


def test_an_unclosed_string_of_escaped_quotes():
    for quote in '"', "'":
        text = "[" + quote + ("\\" + quote) * 100_000   # the regex: ~2 minutes
        within_budget(loads_or_error, text)


def test_a_flood_of_slips():
    text = "[" + "'a', True, None,  " * 10_000 + "]"
    within_budget(loads, text)
    assert loads(text) == ["a", True, None] * 10_000


def test_a_parameter_header_of_spaces():
    for header in (" " * 100_000 + "x", '"' + " " * 100_000 + "x", " " * 100_000 + '"x'):
        block = "<tool_call><function=f><parameter=" + header + "</tool_call>"
        within_budget(parse, block)
        [piece] = parse(block)
        assert isinstance(piece, Call) and piece.arguments == {}


def test_a_parameter_value_of_spaces():
    block = ("<tool_call><function=f><parameter=p>" + " " * 100_000 + "x"
             "</parameter></function></tool_call>")
    within_budget(parse, block)
    [piece] = parse(block)
    assert piece.arguments == {"p": " " * 100_000 + "x"}


def test_many_failed_headers_before_a_far_close():
    for unit in ('<parameter=a"b', '<parameter="a"b', '<parameter=a"  "', "<parameter= "):
        body = unit * 20_000 + ">" + "v"
        within_budget(parameters, body)
    for unit in ("<function=a", "<function= a", '<function="a"b'):
        within_budget(lambda unit=unit: list(functions(unit * 20_000 + " " * 1_000)))


def test_a_function_header_of_spaces():
    text = "<function=" + " " * 100_000 + "x"
    within_budget(lambda: list(functions(text)))
    assert list(functions(text)) == []


def test_nested_and_unclosed_tool_calls():
    for text in ("<tool_call>" * 20_000, "<tool_call>" * 20_000 + "</tool_call>",
                 "<tool_call>" + "<tool_call>\n" * 20_000 + '{"name": "f"}</tool_call>',
                 "<function=" * 20_000, "<tool_call>{" + '"' * 100_000,
                 "<tool_call>" + "</tool_ca" * 20_000):
        for size in (None, 7):
            within_budget(parse, text, size)
    pieces = parse("<tool_call>" + "<tool_call>\n" * 20_000 + '{"name": "f"}</tool_call>')
    assert [(p.name, p.arguments) for p in pieces] == [("f", {})]


def test_a_hundred_thousand_characters_of_markup_soup():
    units = ["<tool_call>", "</tool_call>", "<function=", "<parameter=", "</parameter>", ">", '"',
             "'", "\\", " ", "```", "{", "}", "x"]
    text = "".join(units[(i * 7 + i // 13) % len(units)] for i in range(25_000))[:100_000]
    for size in (None, 3):
        within_budget(parse, text, size)
    within_budget(decode_block, text, text)
    within_budget(loads_or_error, text)


def test_a_flood_of_broken_blocks_is_read_once():
    text = "<tool_call>\nnot json\n</tool_call>\n" * 5_000
    within_budget(parse, text, 16)
    pieces = parse(text, 16)
    assert len(pieces) == 5_000 and all(isinstance(p, Broken) for p in pieces)


def test_a_think_start_line_cut_into_characters():
    def feed():
        splitter = ThinkSplitter()
        out = [splitter.feed(c) for c in "```think::" + "a" * 1_000_000]
        return "".join(out) + splitter.flush()
    within_budget(feed)   # it was rejoined and rescanned at every chunk
    assert feed() == "```think::" + "a" * 1_000_000


def test_long_stop_strings_are_not_rescanned_at_every_chunk():
    stops = tuple("x" * 100_000 + str(i) for i in range(16))

    def stream():
        out = OutputFilter(stops=stops)
        sent = [out.feed("x" * 16) for _ in range(40_000)]
        return "".join(sent) + out.flush()
    within_budget(stream)   # each chunk searched 16 x 100,000 characters again
    assert stream() == "x" * 640_000
