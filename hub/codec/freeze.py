"""``python -m hub.codec.freeze [SCHEMAS_DIR]``: release the current wire schemas.

Writes ``schemas/avro/history/<Name>/v<N+1>.avsc`` for each wire schema whose canonical form is not
in its history yet. Run it when a schema change is final; the contract tests then check the new
version against every older one, in both directions.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hub.codec.schemas import freeze


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m hub.codec.freeze``; exit status 2 on usage errors."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0].startswith("-")):
        print("usage: python -m hub.codec.freeze [SCHEMAS_DIR]", file=sys.stderr)
        return 2
    from hub.settings import Settings

    schemas_dir = Path(args[0]) if args else Settings.from_env().schemas_dir
    written = freeze(schemas_dir)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("history already holds every current wire schema")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
