"""Generated parts of README.md (the configuration table), so the README stays true.

`python -m deployments.docs` rewrites the block between the markers; a test fails when the
README and the Settings model disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tasks.common.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_table() -> str:
    """Markdown table of every setting: variable(s), default, description."""
    lines = ["| variable | default | what |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = list(getattr(alias, "choices", [])) or [ENV_PREFIX + name.upper()]
        default = field.default
        shown = "" if default is None else f"`{default}`"
        variables = " / ".join(f"`{n}`" for n in names)
        lines.append(f"| {variables} | {shown} | {field.description} |")
    return "\n".join(lines)


def render(readme: str) -> str:
    """`readme` with the generated block replaced."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{settings_table()}\n{END}{tail}"


def main() -> int:
    text = README.read_text()
    updated = render(text)
    if updated != text:
        README.write_text(updated)
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
