"""The command line as a user meets it: help, the embedded default, errors and exit codes."""

from __future__ import annotations

import time


def test_help_lists_commands_and_exit_codes(bench_cli):
    result = bench_cli("--help")
    assert result.returncode == 0
    for word in ("run", "list", "leaderboard", "data", "plot", "exit codes", "BENCH_DATA_DIR"):
        assert word in result.stdout
    run_help = bench_cli("run", "--help").stdout
    for flag in ("--suite", "--model", "--dataset", "--splits", "--steps", "--device", "--results", "--data-dir",
                 "--force", "--fail-fast", "KEY=VALUE"):
        assert flag in run_help


def test_smoke_suite_end_to_end_then_rerun_skips(bench_process, bench_main, tmp_path):
    start = time.perf_counter()
    first = bench_process("run", "--suite", "smoke", "--results", str(tmp_path), "--no-progress", cwd=tmp_path)
    out, err = first.communicate(timeout=300)
    elapsed = time.perf_counter() - start
    assert first.returncode == 0, err
    assert "# Leaderboard: smoke" in out and "Average rank" in out
    assert out.count("| 2/2 |") == 9 and "18 ok, 0 failed" in err
    code, again, err = bench_main("run", "--suite", "smoke", "--results", str(tmp_path), "--no-progress")  # here
    assert code == 0 and "skipping 18 finished job(s)" in err and "0 ok" in err
    assert again == out  # same records, same table
    print(f"smoke suite end to end: {elapsed:.1f}s")


def test_unknown_suite_is_a_usage_error_with_suggestions(bench_main):
    code, _, err = bench_main("run", "--suite", "heterophilly")
    assert code == 4 and "Did you mean 'heterophily'" in err and "Available:" in err


def test_bad_override_and_missing_suite_file(bench_main, tmp_path):
    code, _, err = bench_main("run", "--suite", "smoke", "protocol_args.stpes=3")
    assert code == 4 and "unknown protocol_args key 'stpes'. Did you mean 'steps'?" in err
    code, _, err = bench_main("run", "--suite", str(tmp_path / "nope.yaml"))
    assert code == 4 and "does not exist" in err


def test_cuda_request_without_gpu_is_refused_before_training(bench_main):
    import torch

    if torch.cuda.is_available():
        return
    code, _, err = bench_main("run", "--suite", "smoke", "--device", "cuda")
    assert code == 4 and "no CUDA device" in err


def _first_column(table: str) -> set[str]:
    return {line.split()[0] for line in table.splitlines()[2:] if line.strip()}


def test_list_commands(bench_main):
    for what, expected in (("models", "GAT-sep"), ("datasets", "tolokers"), ("metrics", "roc_auc"),
                           ("plugins", "bench_gnn_node.hooks")):
        code, out, _ = bench_main("list", what)
        assert code == 0 and expected in out
    shipped = {
        "suites": {"heterophily", "gnn-longrange", "ood-calibration", "smoke"},
        "launchers": {"local", "submitit", "hydra", "ray"},
        "protocols": {"node-full-batch", "graph-minibatch", "gats-calibration", "gnnsafe-ood"},
        "calibrators": {"uncalibrated", "TS", "VS", "ETS", "CaGCN", "GATS"},
        "detectors": {"MSP", "ODIN", "Mahalanobis", "Energy", "GNNSafe", "OE", "Energy-FT", "GNNSafe++"},
        "analyses": {"influence"},
    }
    for what, names in shipped.items():
        code, out, _ = bench_main("list", what)
        assert code == 0 and names <= _first_column(out), (what, out)


def _commands(parser, path=()):
    """(command path, parser) for the top level and every sub-command, nested ones included."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def test_every_commands_help_lists_each_of_its_options_with_a_description(bench_main, plugins):
    import argparse

    from bench_gnn.cli import _parser

    seen = []
    for path, parser in _commands(_parser([entry.spec for entry in plugins.launchers])):
        code, text, _ = bench_main(*path, "--help") if path else (0, parser.format_help(), "")
        assert code == 0 and text.startswith(f"usage: bench{''.join(' ' + p for p in path)}"), path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            shown = "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest
            names = action.option_strings or [action.metavar or shown]
            assert action.help, (path, names)  # every option says what it does
            for name in names:
                assert str(name) in text, (path, name)
            seen.append((path, names[0]))
    assert len({p for p, _ in seen}) == 9 and len(seen) >= 80  # bench and its eight commands
