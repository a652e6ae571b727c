"""Write `bond_path.csv`: a made-up but realistic intraday price path of a EUR government bond.

The instrument is imaginary: a 10-year EUR government bond with a 2.5% coupon, quoted in EUR
per 100 nominal to three decimals, on 6 March 2025 from 08:00 to 12:59 UTC, one row a minute
(300 rows). The model is what a bond trader would sketch:

- the price mean-reverts (Ornstein-Uhlenbeck, half-life ~20 min) around a fair value that itself
  drifts like a random walk with ~0.35 points of daily volatility (about 4 bp of yield at a
  modified duration of 8.7);
- at 12:15 UTC, a central-bank rate decision, the fair value gaps down by ~0.30 points and
  minute-to-minute noise doubles for the next half hour.

Run `python examples/make_bond_path.py` to regenerate the committed file; the seed makes it
byte-identical every time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

SEED = 20250306
START = datetime(2025, 3, 6, 8, 0, tzinfo=UTC)
ROWS = 300
FIRST_PRICE = 98.415
DAILY_VOL = 0.35  # price points per trading day (8.5 hours)
NOISE = 0.006  # price points of minute-to-minute quote noise
HALF_LIFE_MIN = 20.0
DECISION_AT = 255  # minute index of 12:15 UTC
DECISION_GAP = -0.30
OUT = Path(__file__).with_name("bond_path.csv")


def generate() -> list[tuple[datetime, float]]:
    rng = np.random.default_rng(SEED)
    minute_vol = DAILY_VOL / math.sqrt(8.5 * 60)
    pull = 1 - 0.5 ** (1 / HALF_LIFE_MIN)
    fair = price = FIRST_PRICE
    rows = []
    for minute in range(ROWS):
        if minute == DECISION_AT:  # the news hits the traded price at once, not gradually
            fair += DECISION_GAP
            price += DECISION_GAP
        excited = DECISION_AT <= minute < DECISION_AT + 30
        fair += minute_vol * float(rng.standard_normal())
        price += pull * (fair - price) + (2 if excited else 1) * NOISE * float(
            rng.standard_normal()
        )
        rows.append((START + timedelta(minutes=minute), round(price, 3)))
    rows[0] = (START, FIRST_PRICE)
    return rows


def main() -> None:
    lines = ["timestamp,price"]
    lines += [f"{moment:%Y-%m-%dT%H:%M:%SZ},{price:.3f}" for moment, price in generate()]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines) - 1} rows to {OUT}")


if __name__ == "__main__":
    main()
