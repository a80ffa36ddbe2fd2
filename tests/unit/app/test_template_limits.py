"""Hostile chat templates run under a memory ceiling and a time limit, enforced from outside.

Each template here once drove the engine worker to gigabytes or hung it for minutes. They now
compile and render in the renderer process (:mod:`app.template_sandbox`); the tests check the
user's error names the template and the limit, arrives quickly, and that no process — the
caller or the renderer — went past the ceiling (measured by the kernel: ``ru_maxrss`` of a
fresh process and of its reaped children).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from app.errors import TemplateError
from app.template_sandbox import DEFAULT_MEMORY_LIMIT, TemplateSandbox
from app.templates import ChatTemplate, RenderCancelled

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "chat_templates"
MB = 1024 * 1024

#: Peak resident memory no process may pass (the renderer's cap is 512 MB of address space;
#: before the fix these templates took 1 to 6.5 GB in the engine worker).
CEILING = DEFAULT_MEMORY_LIMIT + 64 * MB
#: A clear error within this long (the render limit is 5 s; the machine may be busy).
TIME_LIMIT_S = 10.0

SORT_LOOP = (
    "{% set big = range(100000) | list %}"
    "{% for i in range(100000) %}{% set _ = big | sort %}{% endfor %}"
)
HOSTILE = {
    "percent-format": "{{ '%0999999999d' % 1 }}",
    "center": "{{ 'x' | center(2000000000) }}",
    "namespace-doubling": (
        "{% set ns = namespace(s='x') %}"
        "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"
    ),
    "folded-at-compile-time": "{{ ('%0999999999d' % 1) | length }}",
    "sort-loop": SORT_LOOP,
}
CONVERSATION = [
    {"role": "system", "content": "Answer briefly."},
    *[
        {"role": role, "content": f"turn {i}: " + "words " * 40}
        for i in range(10)
        for role in ("user", "assistant")
    ],
    {"role": "user", "content": "And now?"},
]


def render_hostile(source: str, **kwargs: object) -> str:
    template = ChatTemplate(source, origin="from the file evil.jinja", **kwargs)  # type: ignore[arg-type]
    return template.render([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_fails_quickly_with_a_clear_error(name: str) -> None:
    start = time.monotonic()
    with pytest.raises(TemplateError) as info:
        render_hostile(HOSTILE[name])
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert message.startswith("chat template from the file evil.jinja "), message
    assert "memory" in message or "ran too long" in message, message
    assert elapsed < TIME_LIMIT_S


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys, time
    from app.errors import TemplateError
    from app.template_sandbox import default_sandbox
    from app.templates import ChatTemplate
    start = time.monotonic()
    try:
        ChatTemplate(sys.argv[1], origin="from evil.jinja").render([{"role": "user", "content": "x"}])
        message = None
    except TemplateError as err:
        message = str(err)
    elapsed = time.monotonic() - start
    default_sandbox().close()  # reap the renderer, so its peak counts in RUSAGE_CHILDREN
    print(json.dumps({
        "message": message,
        "elapsed": elapsed,
        # This process's own peak since it started: ru_maxrss of RUSAGE_SELF would carry
        # the peak of the (large) test process it was forked from across exec.
        "self_kb": next(
            int(line.split()[1])
            for line in open("/proc/self/status")
            if line.startswith("VmHWM:")
        ),
        "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KB of reaped children: Linux")
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_no_process_passes_the_memory_ceiling(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, HOSTILE[name]],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=True,
    )
    result = json.loads(proc.stdout)
    assert result["message"] and result["message"].startswith("chat template from evil.jinja")
    assert result["elapsed"] < TIME_LIMIT_S
    assert result["self_kb"] * 1024 < CEILING, result
    assert result["children_kb"] * 1024 < CEILING, result


def test_a_runaway_render_is_killed_at_the_deadline_and_the_next_one_works() -> None:
    sandbox = TemplateSandbox()
    try:
        template = ChatTemplate(SORT_LOOP, origin="of evil.gguf", timeout_s=0.5, sandbox=sandbox)
        first = sandbox.pid
        start = time.monotonic()
        with pytest.raises(TemplateError, match=r"of evil.gguf was stopped: it ran too long"):
            template.render([])
        assert time.monotonic() - start < TIME_LIMIT_S
        assert first is not None and not _alive(first)
        chatml = ChatTemplate("{{ messages[0]['content'] }}!", sandbox=sandbox)
        assert chatml.render([{"role": "user", "content": "still here"}]) == "still here!"
        assert sandbox.starts == 2
    finally:
        sandbox.close()


def test_stop_during_a_render_kills_the_renderer() -> None:
    sandbox = TemplateSandbox()
    stop = threading.Event()
    try:
        template = ChatTemplate(SORT_LOOP, sandbox=sandbox)  # 5 s limit: Stop must come first
        pid = sandbox.pid
        threading.Timer(0.3, stop.set).start()
        start = time.monotonic()
        with pytest.raises(RenderCancelled):
            template.render([], cancelled=stop.is_set)
        assert time.monotonic() - start < 3.0
        assert pid is not None and not _alive(pid)
    finally:
        sandbox.close()


def test_the_memory_watch_stops_a_renderer_the_os_does_not_limit() -> None:
    # As on Windows and macOS: no address-space limit, only this side's watch on its memory.
    pytest.importorskip("psutil")
    grow = (
        "{% set ns = namespace(s='') %}{% set chunk = 'x' * 4000000 %}"
        "{% for i in range(1000) %}{% set ns.s = ns.s ~ chunk %}{% endfor %}"
    )
    sandbox = TemplateSandbox(memory_limit=200 * MB, rlimit=False)
    try:
        template = ChatTemplate(grow, origin="of grow.gguf", sandbox=sandbox)
        start = time.monotonic()
        with pytest.raises(TemplateError, match=r"of grow.gguf was stopped: .*200 MB of memory"):
            template.render([])
        assert time.monotonic() - start < TIME_LIMIT_S
    finally:
        sandbox.close()


def test_a_template_file_override_is_named_in_its_error(tmp_path: Path) -> None:
    from app.templates import choose_template

    with pytest.raises(TemplateError, match=r"^chat template from /x/evil.jinja has a syntax"):
        choose_template("{{ 1 }}", "{% if %}", model_name="m.gguf", override_name="/x/evil.jinja")
    template, source = choose_template(HOSTILE["folded-at-compile-time"], None, model_name="m.gguf")
    # Jinja defers a constant it fails to fold, so the hostile template compiles and the
    # model loads; its first render then fails, naming the model file.
    assert source == "model"
    with pytest.raises(TemplateError, match=r"^chat template of m\.gguf was stopped: .*memory"):
        template.render([])
    template, source = choose_template("{% if %}", None, model_name="m.gguf")
    assert source == "fallback" and template.origin == "ChatML (the fallback)"


def test_real_templates_render_as_before_and_quickly() -> None:
    # The common path: one round trip to the renderer, the compiled template cached there.
    template = ChatTemplate((FIXTURES / "qwen3.jinja").read_text(encoding="utf-8"))
    first = template.render(CONVERSATION, enable_thinking=True)
    start = time.perf_counter()
    for _ in range(20):
        assert template.render(CONVERSATION, enable_thinking=True) == first
    per_render = (time.perf_counter() - start) / 20
    assert "And now?" in first
    assert per_render < 0.5  # milliseconds in fact; generous for a busy machine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0): read its state where /proc exists.
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        return "zombie" not in status.read_text()
    return True


_ORPHAN = textwrap.dedent(
    """
    import os, sys
    from app.template_sandbox import default_sandbox
    from app.templates import ChatTemplate
    ChatTemplate({source!r}).render([], cancelled=lambda: (print(default_sandbox().pid,
        flush=True) or os._exit(9)))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX parent death")
def test_the_renderer_ends_when_its_parent_dies_mid_render() -> None:
    # The engine worker can be killed (a crash, the OOM killer) in the middle of a render.
    proc = subprocess.run(
        [sys.executable, "-c", _ORPHAN.format(source=SORT_LOOP)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 9, proc.stderr
    pid = int(proc.stdout.strip())
    deadline = time.monotonic() + 5.0
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def test_a_renderer_that_cannot_start_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.template_sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "renderer_command", lambda *a, **k: ["/nonexistent/python"])
    sandbox = TemplateSandbox()
    with pytest.raises(TemplateError, match=r"^chat template of x\.gguf could not be used: the"):
        ChatTemplate("{{ 1 }}", origin="of x.gguf", sandbox=sandbox)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_renderer_killed_from_outside_is_replaced_on_the_next_render() -> None:
    import signal

    sandbox = TemplateSandbox()
    try:
        template = ChatTemplate("<{{ messages[0]['content'] }}>", sandbox=sandbox)
        assert template.render([{"role": "user", "content": "a"}]) == "<a>"
        pid = sandbox.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the OOM killer, a user's kill, a crash
        while _alive(pid):
            time.sleep(0.05)
        assert template.render([{"role": "user", "content": "b"}]) == "<b>"
        assert sandbox.starts == 2 and sandbox.pid != pid
    finally:
        sandbox.close()
