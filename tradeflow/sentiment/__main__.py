"""`python -m tradeflow.sentiment`: the same command as `tradeflow sentiment`."""

from .cli import sentiment

if __name__ == "__main__":
    sentiment(prog_name="python -m tradeflow.sentiment")
