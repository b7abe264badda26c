"""The project's own Table E.1-1 matches the reference copy of the 2024b edition."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from anonymizer import table_e1_1
from anonymizer.profiles import COMPOUND_RESOLUTION, basic_profile
from .anonymizer_fixtures import REFERENCE_DIR

OPTION_COLUMNS = {
    "rtnSafePrivOpt": "RetainSafePrivateOption", "rtnUIDsOpt": "RetainUIDsOption",
    "rtnDevIdOpt": "RetainDeviceIdentityOption", "rtnInstIdOpt": "RetainInstitutionIdentityOption",
    "rtnPatCharsOpt": "RetainPatientCharacteristicsOption",
    "rtnLongFullDatesOpt": "RetainLongitudinalTemporalInformationFullDatesOption",
    "rtnLongModifDatesOpt": "RetainLongitudinalTemporalInformationModifiedDatesOption",
    "cleanDescOpt": "CleanDescriptorsOption", "cleanStructContOpt": "CleanStructuredContentOption",
    "cleanGraphOpt": "CleanGraphicsOption",
}


def test_table_has_the_2024b_rows_and_actions():
    reference = json.loads((REFERENCE_DIR / "ps3.15-table-e1-1.json").read_text())
    assert table_e1_1.EDITION == "2024b" and len(table_e1_1.ROWS) == len(reference) == 621
    ours = {name: (basic, options) for _tag, _mask, name, basic, options in table_e1_1.ROWS}
    for row in reference:
        basic, options = ours[row["name"]]
        assert basic == row["basicProfile"], row["name"]
        assert options == {OPTION_COLUMNS[k]: row[k] for k in OPTION_COLUMNS if row.get(k)}, row["name"]


def test_every_compound_code_has_a_documented_resolution():
    codes = {basic for *_, basic, _ in table_e1_1.ROWS if "/" in basic}
    assert codes <= set(COMPOUND_RESOLUTION)
    rules = basic_profile().rules
    assert all("/" not in action for action in rules.values()), "the engine must only see resolved codes"


def test_product_never_reads_shared_at_run_time():
    package = Path(table_e1_1.__file__).parent
    for source in package.rglob("*.py"):
        tree = ast.parse(source.read_text())
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert not any("shared/reference" in s or ".json" in s for s in strings), f"{source} refers to ../shared"
