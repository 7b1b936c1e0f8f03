"""The discipline every text parser of netdiag.tracekit is fuzzed under (issue 9), for any parser to reuse.

``check_parser(func, data, allowed)`` runs one parser on one input and fails the calling test when the parser:

- raises anything but the ``allowed`` exceptions (its family's error, derived from TracekitError);
- takes more CPU time than ``time_budget(size)``: a fixed part plus a part proportional to the input's size,
  so a parser linear in its input always fits and a superlinear one (a backtracking regex) does not; CPU
  time, so that other work on a busy CI machine cannot fail the test; a hard stop at three times the budget
  keeps a hang from stalling the suite (SIGVTALRM, which interrupts ``re`` too);
- allocates more than ``memory_budget(size)`` at its peak (tracemalloc): a fixed part plus a multiple of the
  input's size, so what a parser keeps grows at most linearly with what it reads.

``mutated(texts)`` and ``adversarial_line(fragments)`` are hypothesis strategies: real outputs with lines
deleted, repeated, cut, spliced, given huge numbers, Unicode digits, long blank runs; and single lines made
of a grammar fragment (``ingress(``, ``--- Thread 1``, ``Time ``...) followed by a long run of one token.

The conntrack, nftrace and IPFIX parsers use the same helpers: pass their function, their error class and
their corpus.
"""

import os
import signal
import time
import tracemalloc

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Budgets: generous against a linear parser (all of ours parse more than 10 MB/s), far below what a
# quadratic one needs on the inputs the strategies build (tens of KB of one repeated token).
BASE_SECONDS = 0.5
SECONDS_PER_MB = 3.0
MEMORY_BASE = 16 << 20
MEMORY_PER_BYTE = 60

# How many examples per fuzz test: small in CI, raised for a campaign (TRACEKIT_FUZZ_EXAMPLES=20000).
EXAMPLES = int(os.environ.get("TRACEKIT_FUZZ_EXAMPLES", "100"))


def fuzz_settings(examples=None, deadline_ms=None):
    """hypothesis settings for a fuzz test: bounded examples, a deadline per example, reproducible in CI
    (derandomized unless TRACEKIT_FUZZ_RANDOM=1), no example database written into the tree."""
    examples = EXAMPLES if examples is None else examples
    return settings(
        max_examples=examples,
        deadline=deadline_ms if deadline_ms is not None else (BASE_SECONDS * 4 + 1) * 1000,
        derandomize=os.environ.get("TRACEKIT_FUZZ_RANDOM") != "1",
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        print_blob=True,
    )


class _HardStop(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` of a parser swallows it."""


def size_of(data):
    if isinstance(data, (str, bytes)):
        return len(data)
    if isinstance(data, (list, tuple)):
        return sum(size_of(item) for item in data)
    if isinstance(data, dict):
        return sum(size_of(k) + size_of(v) for k, v in data.items())
    return 8


def time_budget(size):
    return BASE_SECONDS + SECONDS_PER_MB * size / 1e6


def memory_budget(size):
    return MEMORY_BASE + MEMORY_PER_BYTE * size


def _describe(data):
    text = repr(data)
    return text if len(text) <= 300 else "%s... (%d characters)" % (text[:300], len(text))


def check_parser(func, data, allowed, size=None, memory=True, budget=None):
    """Run ``func(data)``; return ``(result, None)`` or ``(None, exc)`` for an allowed exception.

    Raise AssertionError (the test fails) for any other exception, for time over the budget and for memory
    over the budget. ``size`` defaults to the input's size in characters.
    """
    size = size_of(data) if size is None else size
    allowed_seconds = time_budget(size) if budget is None else budget

    def stop(_signum, _frame):
        raise _HardStop()

    previous = signal.signal(signal.SIGVTALRM, stop)
    signal.setitimer(signal.ITIMER_VIRTUAL, allowed_seconds * 3)
    tracing = memory and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    started = time.process_time()
    result = error = None
    try:
        result = func(data)
    except _HardStop:
        raise AssertionError("%s did not finish in %.1f s of CPU (budget %.2f s for %d characters) on %s"
                             % (getattr(func, "__name__", func), allowed_seconds * 3, allowed_seconds, size, _describe(data)))
    except allowed as exc:
        error = exc
    except Exception as exc:  # pylint: disable=broad-except
        raise AssertionError("%s raised %s (not one of %s): %s, on %s" % (
            getattr(func, "__name__", func), type(exc).__name__, [c.__name__ for c in allowed], exc, _describe(data)))
    finally:
        elapsed = time.process_time() - started
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
        peak = tracemalloc.get_traced_memory()[1] if tracing else 0
        if tracing:
            tracemalloc.stop()
    if elapsed > allowed_seconds:
        raise AssertionError("%s took %.2f s of CPU on %d characters (budget %.2f s): not linear? input %s"
                             % (getattr(func, "__name__", func), elapsed, size, allowed_seconds, _describe(data)))
    if tracing and peak > memory_budget(size):
        raise AssertionError("%s allocated %.1f MB at its peak on %d characters (budget %.1f MB)"
                             % (getattr(func, "__name__", func), peak / 1e6, size, memory_budget(size) / 1e6))
    return result, error


# ------------------------------------------------------------------------------------------- strategies

# Tokens whose long runs break backtracking regexes: blanks, digits, dashes, quotes, brackets, separators.
RUN_TOKENS = (" ", "\t", "  \t", "0", "9", "1.", "-", "--- ", '"', "\\\"", "(", ")", "log(", "a=", "a=\"", ", ",
              ":", ": ", "*/", "/*", "{", "};", "x", "ab ", "²", "\u00a0", "->", "1 ", "e9", "a1 ", ";")
# Numbers past every bound (and past Python's 4,300-digit int conversion limit).
HUGE_NUMBERS = ("9" * 25, "9" * 4400, "1" * 2000 + "." + "1" * 2000, "²", "٣", "-" + "9" * 30)


@st.composite
def adversarial_line(draw, fragments, max_run=20000):
    """One line: a grammar fragment, a long run of one token, and maybe a fragment again."""
    head = draw(st.sampled_from(fragments))
    token = draw(st.sampled_from(RUN_TOKENS))
    run = draw(st.integers(min_value=1, max_value=max(1, max_run // len(token))))
    tail = draw(st.one_of(st.just(""), st.sampled_from(fragments), st.sampled_from(HUGE_NUMBERS), st.text(max_size=20)))
    return head + token * run + tail


def _mutate_line(draw, line):
    kind = draw(st.sampled_from(("cut", "digits", "blank", "unicode", "repeat", "splice", "text", "keep")))
    if not line:
        return line
    pos = draw(st.integers(min_value=0, max_value=len(line)))
    if kind == "cut":
        return line[:pos]
    if kind == "digits":
        # every run of digits of the line (or one position) becomes a huge or non-ASCII number
        number = draw(st.sampled_from(HUGE_NUMBERS))
        digits = [i for i, c in enumerate(line) if c.isdigit()]
        if digits:
            start = draw(st.sampled_from(digits))
            end = start
            while end < len(line) and line[end].isdigit():
                end += 1
            return line[:start] + number + line[end:]
        return line[:pos] + number + line[pos:]
    if kind == "blank":
        return line[:pos] + draw(st.sampled_from((" ", "\t", "\u00a0"))) * draw(st.integers(1, 5000)) + line[pos:]
    if kind == "unicode":
        return line[:pos] + draw(st.text(min_size=1, max_size=5)) + line[pos:]
    if kind == "repeat":
        piece = line[pos:pos + draw(st.integers(1, 8))] or line
        return line[:pos] + piece * draw(st.integers(2, 3000)) + line[pos:]
    if kind == "splice":
        return line[:pos] + line
    if kind == "text":
        return draw(st.text(max_size=80))
    return line


@st.composite
def mutated(draw, texts, fragments=None, max_mutations=6):
    """A real output with a few mutations: lines deleted, duplicated, mutated, adversarial lines inserted."""
    lines = draw(st.sampled_from(texts)).split("\n")
    for _step in range(draw(st.integers(min_value=0, max_value=max_mutations))):
        if not lines:
            lines = [""]
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        action = draw(st.sampled_from(("mutate", "mutate", "delete", "duplicate", "adversarial", "shuffle")))
        if action == "mutate":
            lines[i] = _mutate_line(draw, lines[i])
        elif action == "delete":
            del lines[i:i + draw(st.integers(1, 20))]
        elif action == "duplicate":
            lines[i:i] = lines[i:i + draw(st.integers(1, 30))] * draw(st.integers(1, 20))
        elif action == "adversarial" and fragments:
            lines.insert(i, draw(adversarial_line(fragments, max_run=8000)))
        elif action == "shuffle":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)
