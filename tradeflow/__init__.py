"""tradeflow: shared contracts, configuration, topic backends and CLI."""
