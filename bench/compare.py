#!/usr/bin/env python3
"""Compare two trees with one bench script on a noisy machine: run it on each in turn.

A shared machine's speed moves by the hour (session 12 saw the same tree at 12 ms of CPU per
call one day and 17-21 ms the next), so a figure means something only beside one taken minutes
apart. This runs the bench script alternately on ``--base`` (a git revision, checked out as a
temporary worktree) and on this working tree, ``--rounds`` times, with this tree's bench/
copied into the base's worktree so both use the same driver, and prints each run's last lines
side by side.

    .venv/bin/python bench/compare.py --base baa37fe -- textback_latency.py --postgres-redis --rates 50 --duration 20 --sweep ''
    .venv/bin/python bench/compare.py --base HEAD~3 --rounds 3 --lines 3 -- webhook_intake.py --duration 15
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the git revision to compare this working tree with")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each tree, alternating (default 2)")
    parser.add_argument("--lines", type=int, default=2, help="last lines of each run's output to show (default 2)")
    parser.add_argument("script", help="a script in bench/, e.g. textback_latency.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments (after --)")
    args = parser.parse_args()
    if not (ROOT / "bench" / args.script).is_file():
        parser.error(f"bench/{args.script} does not exist")
    base = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base], capture_output=True, text=True)
    if base.returncode:
        parser.error(f"{args.base!r} is not a revision of this repository: {base.stderr.strip()}")
    rev = base.stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="ringback-compare-"))
    worktree = work / rev
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(worktree), rev], check=True)
    try:
        shutil.rmtree(worktree / "bench")
        shutil.copytree(ROOT / "bench", worktree / "bench", ignore=shutil.ignore_patterns("__pycache__"))
        trees = [(rev, worktree), ("this tree", ROOT)]
        for round_ in range(1, args.rounds + 1):
            for label, tree in trees:
                print(f"== round {round_}: {label}", flush=True)
                done = subprocess.run([sys.executable, str(tree / "bench" / args.script), *_after_dashes(args.args)],
                                      cwd=tree, capture_output=True, text=True,
                                      env=_env(tree))
                lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
                print("\n".join(lines[-args.lines:]) + (f"\n(exit {done.returncode})" if done.returncode else ""),
                      flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _after_dashes(rest: list[str]) -> list[str]:
    return rest[1:] if rest[:1] == ["--"] else rest


def _env(tree: Path) -> dict:
    return os.environ | {"PYTHONPATH": str(tree)}  # that tree's code, not the one installed in the venv


if __name__ == "__main__":
    sys.exit(main())
