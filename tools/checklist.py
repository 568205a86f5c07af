"""Write the gradient doctor's checklist (``utils.checklist``) to ``docs/checklist.md``.

    python -m tools.checklist          # also run by ``make sync``
"""

from __future__ import annotations

import sys
from pathlib import Path

from utils import checklist

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "checklist.md"


def main() -> int:
    text = checklist.markdown()
    if OUTPUT.exists() and OUTPUT.read_text(encoding="utf-8") == text:
        print("docs/checklist.md already in sync")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print("updated: docs/checklist.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
