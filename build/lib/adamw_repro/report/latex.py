"""LaTeX helpers shared by the table and paper stages."""

from __future__ import annotations

import math

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


class Latex(str):
    """A string that is already LaTeX (trusted markup): the paper template does not escape it."""


def escape(value) -> Latex:
    """Render ``value`` literally in LaTeX: every special character is neutralised, so text
    from a config or data file (``a_b%{}\\input{/etc/passwd}``) can never become markup."""
    if isinstance(value, Latex):
        return value
    return Latex("".join(_SPECIAL.get(c, c) for c in str(value)))


def num(x, digits: int = 3) -> Latex:
    """A fixed-point number, or an em dash for missing values."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return Latex("---")
    return Latex(f"{x:.{digits}f}")


def sci(x) -> Latex:
    """A hyperparameter value as written in the config (``%g``), math-typeset if exponential."""
    s = f"{x:g}"
    if "e" in s:
        mant, exp = s.split("e")
        return Latex(f"${mant}\\cdot 10^{{{int(exp)}}}$" if mant != "1" else f"$10^{{{int(exp)}}}$")
    return Latex(s)
