"""Regenerate targets/schema.json and docs/targets.md from the pydantic models (CI checks they match)."""
from pathlib import Path

from hwsim.target.schema import reference_markdown, schema_json

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    (ROOT / "targets" / "schema.json").write_text(schema_json(), encoding="utf-8")
    (ROOT / "docs" / "targets.md").write_text(reference_markdown(), encoding="utf-8")
