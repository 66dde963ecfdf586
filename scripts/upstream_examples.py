"""Check sloctl against the example SLOs of upstream repositories, from a local snapshot.

    .venv/bin/python scripts/upstream_examples.py pyrra /path/to/pyrra.git
    .venv/bin/python scripts/upstream_examples.py openslo /path/to/OpenSLO.git
    .venv/bin/python scripts/upstream_examples.py sloth /path/to/sloth.git [v0.16.0]

The argument is a bare git directory (``git --git-dir`` style, as the ``fetch`` tool leaves it)
or a checkout. Every YAML file holding a document of the format is loaded on its own with
``sloctl.spec.load_documents``; the script prints one line per file (accepted, or every error)
and the totals. ``sloth`` takes the files of ``examples/`` at a tag (default v0.16.0) that use
SLO plugins and compares ``--compat sloth`` with what the tool shelf's real Sloth writes for
them. Nothing is copied into this repository; CI runs the tests under tests/spec and
tests/engines, whose own fixtures cover the features these examples use.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sloctl.spec import load_documents

MARKERS = {"pyrra": "kind: ServiceLevelObjective", "openslo": "apiVersion: openslo"}


def _files(repo: Path, ref: str = "HEAD") -> dict[str, str]:
    if (repo / "HEAD").is_file() and not (repo / ".git").exists():  # bare git directory
        git = ["git", f"--git-dir={repo}"]
        names = subprocess.run(
            [*git, "ls-tree", "-r", "--name-only", ref], capture_output=True, text=True, check=True
        ).stdout.split()
        return {
            n: subprocess.run([*git, "show", f"{ref}:{n}"], capture_output=True, text=True, check=True).stdout
            for n in names
            if n.endswith((".yaml", ".yml"))
        }
    return {str(p.relative_to(repo)): p.read_text() for p in repo.rglob("*.y*ml")}


def _sloth(repo: Path, ref: str) -> int:
    """Every examples/ file with SLO plugins: our --compat sloth output against the real Sloth's."""
    import tempfile

    import yaml

    from sloctl.render.sloth_compat import render_sloth
    from sloctl.shelf import require
    from sloctl.spec import load_paths

    sloth = require("sloth")
    files = {
        n: t
        for n, t in _files(repo, ref).items()
        if n.startswith("examples/")
        and n.count("/") == 1
        and ("slo_plugins" in t or "sloPlugins" in t or "plugins:\n" in t)
    }
    same = 0
    for name, text in sorted(files.items()):
        with tempfile.TemporaryDirectory() as tmp:
            spec, out = Path(tmp, Path(name).name), Path(tmp, "out.yaml")
            spec.write_text(text)
            proc = subprocess.run(
                [str(sloth), "generate", "--no-log", "-i", str(spec), "-o", str(out)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                print(f"SKIPPED {name}: Sloth itself refuses it ({proc.stderr.strip().splitlines()[-1]})")
                continue
            result = load_paths([spec], compat="sloth")
            if not result.ok:
                print(f"REFUSED {name}: {[str(e) for e in result.errors]}")
                continue
            theirs = [d for d in yaml.safe_load_all(out.read_text()) if d]
            mine = [d for d in yaml.safe_load_all(render_sloth(result.slos, version=ref)) if d]
            if mine == theirs:
                same += 1
                print(f"same    {name}")
            else:
                print(f"DIFFERS {name}")
    print(f"{same} of {len(files)} examples with SLO plugins give exactly Sloth's output")
    return 0 if same == len(files) else 1


USAGE = "usage: upstream_examples.py pyrra|openslo|sloth REPOSITORY [SLOTH_TAG]"


def main(argv: list[str]) -> int:
    most = 3 if argv[:1] == ["sloth"] else 2  # only sloth takes a tag
    if not 2 <= len(argv) <= most or argv[0] not in (*MARKERS, "sloth"):
        print(USAGE, file=sys.stderr)
        return 2
    kind, repo = argv[0], Path(argv[1])
    if not (repo / "HEAD").is_file() and not (repo / ".git").exists():
        print(f"{repo}: not a git directory or checkout (a fetched snapshot or a clone)", file=sys.stderr)
        return 2
    if kind == "sloth":
        return _sloth(repo, argv[2] if len(argv) > 2 else "v0.16.0")
    marker = MARKERS[kind]
    files = {n: t for n, t in _files(repo).items() if marker in t and "CustomResourceDefinition" not in t}
    accepted = 0
    slos = 0
    for name, text in sorted(files.items()):
        result = load_documents([(name, text)])
        if result.ok:
            accepted += 1
            slos += len(result.slos)
            print(f"ok      {name}: {len(result.slos)} SLO(s)")
        else:
            print(f"REFUSED {name}")
            for e in result.errors:
                print(f"        {e}")
    print(f"{accepted} of {len(files)} files accepted, {slos} SLO(s)")
    return 0 if accepted == len(files) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
