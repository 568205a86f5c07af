"""The course's figures in one consistent style.

Colours are the Okabe–Ito palette, which stays distinguishable for the common
forms of colour blindness.
"""

import matplotlib as mpl

#: Okabe & Ito (2008), "Color Universal Design", without black and yellow
#: (too light on white) at the front of the cycle.
OKABE_ITO = [
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
]

COURSE_STYLE = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.0,
    "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
    "image.cmap": "viridis",
}


def use_course_style() -> None:
    """Apply the course style to every figure drawn from now on."""
    mpl.rcParams.update(COURSE_STYLE)
