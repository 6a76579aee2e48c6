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


# ---- issue 17: the sources of the plan's other staging files ---------------------------------

CRUDE_MONTHLY = _arch(
    "crude",
    original_source=(
        "Monthly spot prices of Brent and WTI crude oil (USD per barrel), 1987-05 to 2020-01, "
        "each month dated the 15th as the package dates it"
    ),
    data_license="arch states no separate licence; the series are EIA/FRED public data",
    notes=(
        "arch.data.crude's docstring is copied from core_cpi ('the CPI less Food and Energy', "
        "'From the FRED database'): the file's columns are Brent and WTI. Monthly averages of "
        "the daily spot series FRED publishes as MCOILBRENTEU / MCOILWTICO (EIA); the FRED id "
        "is not in the package, so the attribution is inferred."
    ),
)

FAMA_FRENCH = _arch(
    "frenchdata",
    original_source=(
        "Kenneth R. French data library: Fama/French 3 research factors, monthly, percent "
        "(Mkt-RF, SMB, HML, RF), 1926-07 to 2018-11"
    ),
    data_license="Kenneth R. French data library, redistributed by arch for its examples",
    notes=(
        "arch docstring: 'Provided by Ken French, http://mba.tuck.dartmouth.edu/pages/faculty/"
        "ken.french/data_library.html'. The package index holds YYYYMM as an integer; date is "
        "the first day of that month."
    ),
)

_STATSMODELS_LICENSE = "statsmodels package: BSD-3-Clause. Data: "


def _statsmodels(name: str, *, original_source: str, data_license: str, notes: str) -> Source:
    return Source(
        package="statsmodels",
        modules=(f"statsmodels.datasets.{name}",),
        loaders=(f"statsmodels.datasets.{name}.load_pandas",),
        original_source=original_source,
        license=_STATSMODELS_LICENSE + data_license,
        notes=notes,
    )


MAUNA_LOA_CO2 = _statsmodels(
    "co2",
    original_source=(
        "Keeling and Whorf (2004), atmospheric CO2 from flask samples at Mauna Loa (SIO "
        "network), CDIAC, Oak Ridge National Laboratory; weekly, 1958-03-29 to 2001-12-29, ppm"
    ),
    data_license="public domain (statsmodels COPYRIGHT: 'This is public domain.')",
    notes="statsmodels SOURCE cites CDIAC (obtained 2014-03-15). 59 weeks without a value are dropped.",
)

ENSO_SST = _statsmodels(
    "elnino",
    original_source=(
        "NOAA National Weather Service CPC, ERSST.V3B Nino 1+2 sea-surface temperature "
        "(degrees C), monthly, 1950-01 to 2010-12"
    ),
    data_license="public domain (statsmodels COPYRIGHT)",
    notes="The package holds one row per year and a column per month; one row per month here, dated the 1st.",
)

ELEC_EQUIP = _statsmodels(
    "elec_equip",
    original_source=(
        "Eurostat short-term statistics STS.M.I7.W.TOVT.NS0016.4.000: euro area 18 total "
        "turnover index, manufacture of electrical equipment (NACE Rev2 26-27), monthly, "
        "working-day adjusted, 1995-01 to 2016-05"
    ),
    data_license="public domain (statsmodels COPYRIGHT)",
    notes="The package's only column, renamed turnover_index.",
)

DE_INTEREST_INFLATION = _statsmodels(
    "interest_inflation",
    original_source=(
        "(West) German inflation (Dp: delta log GDP deflator) and nominal long-term interest "
        "rate (R), quarterly 1972Q2-1998Q4, JMulTi data set e6 (Lütkepohl and Krätzig)"
    ),
    data_license="statsmodels states '...' for its copyright: no licence stated for the data",
    notes="statsmodels SOURCE: http://www.jmulti.de/download/datasets/e6.dat. date = first day of the quarter.",
)

DK_MONEY_DEMAND = _statsmodels(
    "danish_data",
    original_source=(
        "Danish money demand data of Johansen and Juselius (1990): log real money, log real "
        "income, log prices, bond rate, deposit rate; quarterly 1974Q1-1987Q3"
    ),
    data_license="public domain (statsmodels COPYRIGHT)",
    notes="Oxford Bulletin of Economics and Statistics 52(2), 169-210. Column names as in the package.",
)


def _vega(name: str, loader: str, *, original_source: str, data_license: str, notes: str) -> Source:
    return Source(
        package="vega_datasets",
        modules=("vega_datasets",),
        loaders=(f"vega_datasets.local_data.{loader}",),
        original_source=original_source,
        license="vega_datasets package: MIT. Data: " + data_license,
        notes=f"Read from the file shipped in the package ({name}, use_local=True). " + notes,
    )


STOCKS_MONTHLY = _vega(
    "stocks.csv", "stocks",
    original_source="Prices of AAPL, AMZN, GOOG, IBM and MSFT, one observation per month, 2000-01 to 2010-03",
    data_license="vega-datasets states no separate licence for stocks.csv",
    notes=("The loader's docstring says 'daily closing stock prices' but the file holds one row "
           "per symbol and month, dated the 1st: it is loaded as monthly."),
)

US_EMPLOYMENT = _vega(
    "us-employment.csv", "us_employment",
    original_source=(
        "U.S. Bureau of Labor Statistics Current Employment Statistics: employment by "
        "supersector, seasonally adjusted, thousands, monthly 2006-01 to 2015-12"
    ),
    data_license="public domain (published by the U.S. government, per the loader's docstring)",
    notes=("'nonfarm_change' is the package's own appended month-to-month change; column names "
           "as in the file, including its spelling 'trade_transportation_utilties'."),
)

IOWA_ELECTRICITY = _vega(
    "iowa-electricity.csv", "iowa_electricity",
    original_source=(
        "U.S. Energy Information Administration: annual net generation of electricity in Iowa "
        "by source (thousand MWh), 2001-2017"
    ),
    data_license="public domain (EIA, per the loader's docstring)",
    notes="date = 1 January of the year (the file's own year value); energy_source is the file's source.",
)

VIX_OHLC_2009 = _vega(
    "ohlc.json", "ohlc",
    original_source="CBOE Volatility Index daily open, high, low, close, 2009-06-01 to 2009-07-31",
    data_license="vega-datasets states no separate licence for ohlc.json",
    notes="'signal' and 'ret' are the file's own columns, kept as they are.",
)

SEATTLE_TEMPS = _vega(
    "seattle-temps.csv", "seattle_temps",
    original_source="NOAA hourly temperatures (F), Seattle, WA, 2010",
    data_license="public-domain NOAA data",
    notes="station = 'SEATTLE_WA' is a label naming the location; date and hour split from the timestamp.",
)

SF_TEMPS = _vega(
    "sf-temps.csv", "sf_temps",
    original_source="NOAA hourly temperatures (F), San Francisco, CA, 2010",
    data_license="public-domain NOAA data",
    notes="station = 'SAN_FRANCISCO_CA' is a label naming the location; date and hour split from the timestamp.",
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
