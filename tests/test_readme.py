"""README.md as a contract: every ``lstm-search`` command in its fenced shell blocks parses as
written, the cheap ones run as written (in a temporary folder, the way a new user types them
after activating ``.venv``), the Python snippet runs, and the bare commands come after the line
that says how to put ``lstm-search`` on the PATH."""

from __future__ import annotations

import re
import runpy
import shlex
from pathlib import Path

import pytest

from lstm_search.cli import COMMANDS, main, parse

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAMS = ("lstm-search", ".venv/bin/lstm-search")
ACTIVATE = "source .venv/bin/activate"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _strip_comment(line: str) -> str:
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()


def readme_commands() -> list[tuple[list[str], str | None]]:
    """Each ``lstm-search`` command of the README's bash blocks as (argv without the program,
    file its stdout is redirected to or None); ``&&`` chains are split, ``<run>`` placeholders
    stay as written."""
    out: list[tuple[list[str], str | None]] = []
    for block in _blocks("bash"):
        for raw in block.splitlines():
            for part in _strip_comment(raw).split("&&"):
                words = shlex.split(part)
                if not words or words[0] not in PROGRAMS:
                    continue
                redirect = None
                if ">" in words:
                    i = words.index(">")
                    words, redirect = words[:i], words[i + 1]
                out.append((words[1:], redirect))
    return out


def _argv_ids() -> list[str]:
    return [" ".join(argv)[:60] for argv, _ in readme_commands()]


def test_readme_has_commands_of_every_kind() -> None:
    used = {argv[0] for argv, _ in readme_commands()}
    assert {"run", "report", "show", "check", "data", "train", "bench", "runs"} <= used


@pytest.mark.parametrize(("argv", "redirect"), readme_commands(), ids=_argv_ids())
def test_readme_command_parses(argv: list[str], redirect: str | None) -> None:
    assert argv[0] in COMMANDS, f"README names an unknown command: {argv[0]}"
    argv = [a.replace("<run>", "RUN") for a in argv]
    _, args = parse(argv)  # argparse exits 2 on anything it does not accept
    if argv[0] == "run":
        from lstm_search.experiment import load_experiment
        from lstm_search.suite import is_suite, load_suite

        if is_suite(args.experiment):
            load_suite(args.experiment)  # the suite named is one that exists
        else:
            load_experiment(args.experiment)  # the experiment named is one that exists


def test_bare_commands_come_after_the_activation_line() -> None:
    text = README.read_text(encoding="utf-8")
    first_bare = min(m.start() for m in re.finditer(r"^lstm-search ", text, flags=re.M))
    assert ACTIVATE in text[:first_bare], (
        f"the first bare `lstm-search` command comes before `{ACTIVATE}`")


def _cheap(argv: list[str]) -> bool:
    return argv[0] in ("show", "check", "runs") or argv[:2] == ["data", "list"]


def test_cheap_readme_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    ran = []
    for argv, redirect in readme_commands():
        if not _cheap(argv):
            continue
        capsys.readouterr()
        status = main(argv)
        out, err = capsys.readouterr()
        assert status == 0, f"lstm-search {' '.join(argv)} exited {status}: {err}"
        if redirect:
            Path(redirect).write_text(out, encoding="utf-8")
        ran.append(argv[0])
    assert {"show", "check", "data", "runs"} <= set(ran)
    assert Path("gru.png").stat().st_size > 1000


def test_readme_python_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Python block runs as written; the genome example's module matches torch's."""
    import torch

    monkeypatch.chdir(tmp_path)
    results = []
    for i, snippet in enumerate(_blocks("python")):
        script = tmp_path / f"snippet{i}.py"
        script.write_text(snippet, encoding="utf-8")
        results.append(runpy.run_path(str(script)))
    assert len(results) >= 2
    first = results[0]
    x = torch.randn(5, 3, 32)
    assert torch.allclose(first["mine"](x)[0], first["ref"](x)[0], atol=1e-5)
    assert first["out"].shape == (35, 20, 64)
    dropin = next(r for r in results if "mut1" in r)
    assert dropin["y"].shape == (35, 20, 128)


@pytest.mark.integration
def test_readme_quickstart_commands_run_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The Quickstart block's smoke run, then ``runs`` and ``report`` with the run's name."""
    monkeypatch.chdir(tmp_path)
    commands = [argv for argv, _ in readme_commands()]
    smoke = next(a for a in commands if a[:3] == ["run", "quickstart", "--smoke"])
    assert main(smoke) == 0
    printed = capsys.readouterr().out
    (run_dir,) = [p for p in Path("results/quickstart").iterdir() if p.is_dir()]
    assert f"lstm-search report {run_dir}" in printed  # run says what to do next
    assert main(["runs"]) == 0 and run_dir.name in capsys.readouterr().out
    report = next(a for a in commands if a[0] == "report" and "results/quickstart/<run>" in a)
    assert main([a.replace("<run>", run_dir.name) for a in report]) == 0
    assert (run_dir / "report" / "report.html").is_file()
