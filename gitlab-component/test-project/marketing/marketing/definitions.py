import dagster as dg


@dg.asset
def campaigns() -> list[str]:
    return ["spring", "summer"]


defs = dg.Definitions(assets=[campaigns])
