"""Arrow types of the contracts, so clean tables are written with one stable schema."""

import pandas as pd
import pyarrow as pa

from features.contracts.tables import TableContract


def arrow_schema(contract: TableContract) -> pa.Schema:
    """Return the Arrow schema clean tables are written with (dates as ``date32``)."""
    fields = []
    for name, column in contract.schema.columns.items():
        dtype = str(column.dtype)
        if dtype.startswith("datetime64"):
            arrow_type = pa.date32()
        elif dtype in {"Int64", "int64"}:
            arrow_type = pa.int64()
        elif dtype == "float64":
            arrow_type = pa.float64()
        elif dtype == "bool":
            arrow_type = pa.bool_()
        else:
            arrow_type = pa.string()
        fields.append(pa.field(name, arrow_type, nullable=column.nullable))
    return pa.schema(fields)


def to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Convert validated rows to Arrow with the contract's schema (timestamps cast to dates)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.select(schema.names).cast(schema)
