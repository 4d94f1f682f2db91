"""Pricing: the work behind GET /orders (the acceptance test raises ROUNDS by 30% to plant a regression)."""

ROUNDS = 30_000


def price_order(order_id: int) -> int:
    total = 0
    for i in range(ROUNDS):
        total = (total + i * order_id) % 1_000_003
    return total
