"""Live dispatch through the day: instant quotes for orders not yet placed."""

from dispatch.live.quote import QUOTE_ORDER_ID, Quote, quote_document, quote_order

__all__ = ["QUOTE_ORDER_ID", "Quote", "quote_document", "quote_order"]
