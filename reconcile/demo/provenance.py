"""Where every demo value comes from: one `Source` record per public data set.

Each record names the installed PyPI package and modules that ship the data, the loader
that reads it, the original publisher, the licence and what the package itself says (or
does not say) about it. `source_dict` turns the records behind one table into the
provenance entry written to `PROVENANCE.json` and returned by `legacy_provenance()`.
`MISSING_SOURCES` lists what the migration plan names but no package ships.

Pure data and text: no file reads (except package metadata for the version), no
BigQuery, no clock.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

_ARCH_DATA_DOCS = "https://bashtage.github.io/arch/devel/data.html"
_ARCH_LICENSE = "arch package: NCSA. Data: "


@dataclass(frozen=True)
class Source:
    """Where a set of values came from: an installed package and the modules that hold it."""

    package: str
    modules: tuple[str, ...]
    loaders: tuple[str, ...]
    original_source: str
    license: str
    notes: str


def source_dict(sources: tuple[Source, ...]) -> dict:
    """One provenance dict for values drawn from one package, possibly several data sets.

    When several data sets feed one table, each text field lists every origin, prefixed by
    its modules, so nothing about any of them is lost.
    """
    packages = {s.package for s in sources}
    if len(packages) != 1:
        raise ValueError(f"one table, one package expected, got {sorted(packages)}")

    def text(field: str) -> str:
        if len(sources) == 1:
            return getattr(sources[0], field)
        parts: list[str] = []
        for s in sources:
            part = f"[{', '.join(s.modules)}] {getattr(s, field)}"
            if part not in parts:
                parts.append(part)
        return " ".join(parts)

    package = sources[0].package
    return {
        "package": package,
        "version": importlib.metadata.version(package),
        "modules": [m for s in sources for m in s.modules],
        "loaders": [f for s in sources for f in s.loaders],
        "original_source": text("original_source"),
        "license": text("license"),
        "notes": text("notes"),
    }


def _arch(name: str, *, original_source: str, data_license: str, notes: str) -> Source:
    """A data set shipped as the module arch.data.<name>, read by its `load()`."""
    return Source(
        package="arch",
        modules=(f"arch.data.{name}",),
        loaders=(f"arch.data.{name}.load",),
        original_source=original_source,
        license=_ARCH_LICENSE + data_license,
        notes=notes,
    )


def _yahoo_index(name: str, title: str, ticker: str) -> Source:
    return _arch(
        name,
        original_source=(
            f"Yahoo! Finance daily history of the {title} ({ticker}): open, high, low, close, "
            "adjusted close, volume; 1999-01-04 to 2018-12-31"
        ),
        data_license=(
            "Yahoo! Finance market data redistributed by arch for its "
            "examples; arch states no separate data licence"
        ),
        notes=(
            "arch's examples call its index data 'financial data from Yahoo! Finance' "
            "(examples/univariate_volatility_modeling.ipynb) and its data page lists the "
            f"contents ({_ARCH_DATA_DOCS}); the Open/High/Low/Close/Adj Close/Volume layout is "
            f"Yahoo's CSV export. The package files carry no ticker: {ticker} is Yahoo's ticker "
            "for this index, used as a label."
        ),
    )


YAHOO_SP500 = _yahoo_index("sp500", "S&P 500 index", "^GSPC")
YAHOO_NASDAQ = _yahoo_index("nasdaq", "NASDAQ Composite index", "^IXIC")

FRED_WTI = _arch(
    "wti",
    original_source=(
        "FRED series DCOILWTICO (Crude Oil Prices: West Texas Intermediate, Cushing, Oklahoma, "
        "USD per barrel; U.S. EIA via FRED), daily, 1986-01-02 to 2019-01-03"
    ),
    data_license="FRED (Federal Reserve Bank of St. Louis), EIA public data",
    notes=(
        "arch docstring: 'From the FRED database'; the CSV column is DCOILWTICO. FRED lists "
        "market holidays with no value: those rows are dropped, never filled."
    ),
)

FRED_CORE_CPI = _arch(
    "core_cpi",
    original_source=(
        "FRED series CPILFESL (Consumer Price Index for All Urban Consumers: All Items Less "
        "Food and Energy; BLS via FRED), monthly, 1957-01-01 to 2018-11-01"
    ),
    data_license="FRED (Federal Reserve Bank of St. Louis), BLS public data",
    notes="arch docstring: 'From the FRED database'; the CSV column is CPILFESL.",
)

MOODYS_YIELDS = _arch(
    "default",
    original_source=(
        "Moody's seasoned Aaa and Baa corporate bond yields (percent), monthly, "
        "1919-01-01 to 2018-12-01"
    ),
    data_license="arch states no source or licence for this file",
    notes=(
        "arch's docstring says only 'the rates on AAA and BAA rated bonds' and names no "
        "distributor. Its columns AAA and BAA, monthly from January 1919, match FRED series "
        "AAA and BAA (Moody's Seasoned Aaa/Baa Corporate Bond Yield), so those ids are used as "
        "series_id: the FRED attribution is inferred, not stated by the package. These are "
        "corporate bond yields, not Treasury yields."
    ),
)

VIX = _arch(
    "vix",
    original_source="CBOE Volatility Index (VIX) daily close, 2014-01-03 to 2019-01-03",
    data_license="arch states no source or licence for this file",
    notes=(
        "arch says only 'historical VIX' and names no distributor. The file lists US market "
        "holidays with no value (e.g. 2014-01-20), the layout of FRED's VIXCLS, but the FRED id "
        "is not in the package, so VIX is kept out of fred_macro_expanded. The empty holiday "
        "rows are dropped, never filled."
    ),
)

SEATTLE_WEATHER = Source(
    package="vega_datasets",
    modules=("vega_datasets",),
    loaders=("vega_datasets.local_data.seattle_weather",),
    original_source=(
        "NOAA daily weather observations for Seattle, WA (precipitation, max/min temperature, "
        "wind, weather type), 2012-01-01 to 2015-12-31, public domain"
    ),
    license="vega_datasets package: MIT. Data: public-domain NOAA data",
    notes=(
        "vega_datasets: 'drawn from public-domain NOAA data, and transformed using scripts "
        "available at http://github.com/vega/vega_datasets/'. Read from the file shipped in the "
        "package (local_data, use_local=True). The package does not name the NOAA station or "
        "state units; station = 'SEATTLE_WA' is a constant label naming the location."
    ),
)

US_MACRO = Source(
    package="statsmodels",
    modules=("statsmodels.datasets.macrodata",),
    loaders=("statsmodels.datasets.macrodata.load_pandas",),
    original_source=(
        "US macroeconomic data 1959Q1-2009Q3 compiled by Skipper Seabold from FRED (accessed "
        "2009-12-15); unemployment rate from the Bureau of Labor Statistics"
    ),
    license="statsmodels package: BSD-3-Clause. Data: public domain (statsmodels COPYRIGHT note)",
    notes=(
        "Variables as documented in statsmodels.datasets.macrodata.NOTE. `date` is the first "
        "day of the quarter, derived from the package's year and quarter columns."
    ),
)


def _missing(name: str, why: str) -> dict:
    """A raw_intelligence staging file the plan names that no installed package can supply."""
    return {
        "name": name,
        "file": f"{name}.parquet",
        "table": f"raw_intelligence.{name}",
        "missing": True,
        "reason": why + " Not generated: no file is written and nothing stands in for it.",
    }


MISSING_SOURCES: tuple[dict, ...] = (
    _missing("cftc_commitments", (
        "CFTC Commitments of Traders reports are published by the CFTC (cftc.gov) and no "
        "installed PyPI package ships a copy; fetching them needs the network."
    )),
    _missing("alpha_vantage_features", (
        "Alpha Vantage data comes only from its keyed web API under its own terms; no "
        "installed PyPI package ships a copy."
    )),
)
