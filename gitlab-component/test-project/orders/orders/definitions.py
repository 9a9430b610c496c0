import dagster as dg


@dg.asset
def raw_orders() -> list[dict]:
    return [{"id": 1, "amount": 42.0}, {"id": 2, "amount": 7.5}]


@dg.asset
def order_totals(raw_orders: list[dict]) -> float:
    return sum(order["amount"] for order in raw_orders)


defs = dg.Definitions(assets=[raw_orders, order_totals])
