"""Trading logic shared by the signal consumer, the Lambda executor and the backtest: the risk
manager, position sizing, the market calendar, brokers (Alpaca, the paper simulator), notifiers
(Slack, console), the kill switch and the audit store."""
