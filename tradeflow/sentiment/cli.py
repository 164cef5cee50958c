"""`tradeflow sentiment`: score headlines from stdin, or evaluate a scorer on PhraseBank."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .scorers import (DEFAULT_SCORER, NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD, SCORERS, Scorer,
                      get_scorer)


@click.command("sentiment", context_settings={"help_option_names": ["-h", "--help"]},
               epilog=f"Labels: positive if score >= {POSITIVE_THRESHOLD}, negative if score <= "
                      f"{NEGATIVE_THRESHOLD}, neutral otherwise.")
@click.option("--scorer", type=click.Choice(sorted(SCORERS)), default=DEFAULT_SCORER,
              show_default=True,
              help="'finance': VADER plus finance-domain rules (profit rose, costs fell, beats, "
                   "downgrades...); 'vader': plain VADER, the general-language baseline.")
@click.option("--eval", "eval_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="Evaluate on a Financial PhraseBank file (`sentence@label` lines, "
                   "ISO-8859-1) instead of reading stdin: prints accuracy, macro-F1 and the "
                   "confusion matrix. Repeatable.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="With --eval and a scorer other than vader: also print plain VADER's "
                   "accuracy and macro-F1 on each file, for comparison.")
@click.option("--explain", is_flag=True,
              help="With stdin input: add the finance rules that fired to each JSON line.")
def sentiment(scorer: str, eval_files: tuple[Path, ...], baseline: bool, explain: bool) -> None:
    """Score financial headlines: one text per line on stdin, one JSON object per line out
    ({"text", "score", "label"}; score is a compound in [-1, 1]). Empty lines are skipped.

    \b
    Examples:
      echo "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn" | tradeflow sentiment
      tradeflow sentiment --scorer vader --eval Sentences_AllAgree.txt
    """
    fn = get_scorer(scorer)
    if eval_files:
        _evaluate(eval_files, scorer, fn, baseline and scorer != "vader")
        return
    if explain:
        from .finance import analyse
    for line in sys.stdin:
        text = line.strip()
        if not text:
            continue
        result = fn(text)
        record: dict[str, object] = {"text": text, "score": result.score, "label": result.label}
        if explain:
            record["evidence"] = [[e.rule, round(e.weight, 2), e.words]
                                  for e in analyse(text).evidence]
        click.echo(json.dumps(record, ensure_ascii=False))


def _evaluate(files: tuple[Path, ...], name: str, fn: Scorer, baseline: bool) -> None:
    from .evaluate import evaluate, format_report, read_phrasebank

    for i, path in enumerate(files):
        dataset = read_phrasebank(path)
        if i:
            click.echo()
        click.echo(format_report(dataset, name, evaluate(dataset, fn)))
        if baseline:
            base = evaluate(dataset, get_scorer("vader"))
            click.echo(f"  baseline vader: accuracy {base.accuracy:.4f}   "
                       f"macro-F1 {base.macro_f1:.4f}")


if __name__ == "__main__":
    sentiment(prog_name="python -m tradeflow.sentiment.cli")
