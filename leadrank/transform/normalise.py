"""Stage 2, normalise: EXTRACTED records → NORMALISED records (see leadrank.contracts).

Every normaliser runs once per distinct value (sources repeat countries, cities, domains and
legal forms endlessly), then the results are mapped back; this keeps a night of a million rows
in seconds. Nothing is dropped here: a value that cannot be used becomes None plus a flag.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any

import cpca
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from joblib.externals.loky import cpu_count

from leadrank.contracts import (
    EXTRACTED,
    NORMALISED,
    NORMALISED_EXTRA,
    NORMALISED_FILE,
    PROSPECT_FIELDS,
    is_arrow_text,
    require,
)
from leadrank.countries import NON_MAINLAND_PROVINCES, country_code
from leadrank.fingerprints import row_hash
from leadrank.transform.contacts import (
    domain_countries,
    normalise_emails,
    normalise_phones,
    normalise_websites,
    phone_countries,
    phone_places,
)
from leadrank.transform.identifiers import normalise_usccs
from leadrank.transform.names import bilingual_parts, clean_array, core_key_array, parse_names
from leadrank.transform.regions import regions
from leadrank.worker_processes import in_workers

_ADDRESS_ABBREVIATIONS = {
    "street": "st", "avenue": "ave", "road": "rd", "boulevard": "blvd", "drive": "dr", "place": "pl",
    "suite": "ste", "north": "n", "south": "s", "east": "e", "west": "w", "building": "bldg", "floor": "fl",
    "saint": "st",  # St Louis Ave / Saint Louis Avenue, St Kilda Rd
}

_DIRECTIONS = ("north", "south", "east", "west")


def address_key(raw: str | None) -> str | None:
    """Comparison form of an address: simplified, lower-case, words abbreviated, punctuation gone."""
    return address_keys([raw])[0]


def address_keys(raw: Iterable[object] | pa.Array) -> np.ndarray:
    """`address_key` for a column."""
    text = core_key_array(clean_array(raw))
    latin = np.asarray(pc.match_substring_regex(text, "[a-z]"), dtype=bool)
    if latin.any():
        words = text.filter(pa.array(latin))
        # A direction word after a direction is the street's name ('W North Ave', 'S East End
        # Ave'): held in capitals past the abbreviations, or North Avenue would become 'w n'.
        for direction in _DIRECTIONS:
            words = pc.replace_substring_regex(words, rf"\b({'|'.join(_DIRECTIONS)}|n|s|e|w) {direction}\b",
                                               rf"\1 {direction.upper()}")
        for long, short in _ADDRESS_ABBREVIATIONS.items():
            words = pc.replace_substring_regex(words, rf"\b{long}\b", short)
        text = pc.replace_with_mask(text, pa.array(latin), pc.utf8_lower(words))
    out = np.asarray(text.to_pylist(), dtype=object)
    out[out == ""] = None
    return out


def _map_unique(values: pd.Series, func: Callable[..., Any]) -> pd.Series:
    """func applied once per distinct value (None for missing), mapped back onto the rows."""
    uniques, codes = _distinct(values)
    results = np.empty(len(uniques), dtype=object)
    results[:] = [func(None if pd.isna(v) else v) for v in uniques]
    return pd.Series(results[codes], index=values.index, dtype=object)


def _distinct(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, index of each row's value; None, last, for missing ones): column
    normalisers run once per distinct value. Hashed as the column is held (Arrow-backed text
    too), so that no row becomes a Python object."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    missing = codes < 0
    if missing.any():
        uniques = np.append(uniques, None)
        codes[missing] = len(uniques) - 1
    return uniques, codes


def _cleaned(values: pd.Series) -> pd.Series:
    """`clean` of every value (None for missing or empty), computed once per distinct value."""
    uniques, codes = _distinct(values)
    cleaned = np.asarray(clean_array(uniques).to_pylist(), dtype=object)
    cleaned[pd.isna(uniques) | (cleaned == "")] = None
    return pd.Series(cleaned[codes], index=values.index, dtype=object)


def _addresses(address: pd.Series) -> pd.DataFrame:
    """(province, city) of Chinese addresses: a leading region name when there is one (most
    addresses: 广东省深圳市…), else cpca, which also knows districts (福田区… → 深圳市)."""
    uniques, codes = _distinct(address)
    cleaned = clean_array(uniques)
    han = np.asarray(pc.match_substring_regex(cleaned, r"[\x{4e00}-\x{9fff}]"), dtype=bool)
    _, province, city = regions().strip_prefix_array(cleaned)
    province = np.where(han, province, None)
    city = np.where(han, city, None)
    rest = han & pd.isna(city)
    if rest.any():
        values = cleaned.filter(pa.array(rest)).to_pylist()
        parsed = cpca.transform(values)
        prov = [p or None for p in parsed["省"]]
        cty = [(p if c == "市辖区" else c) or None for p, c in zip(parsed["省"], parsed["市"], strict=True)]
        province[rest] = np.where(pd.isna(province[rest]), np.asarray(prov, dtype=object), province[rest])
        city[rest] = np.asarray(cty, dtype=object)
    return pd.DataFrame({"province": province[codes], "city": city[codes]}, index=address.index, dtype=object)


def _first(*series: pd.Series) -> pd.Series:
    """Row by row, the first of the columns that has a value (None when none has)."""
    result = np.asarray(series[0], dtype=object).copy()
    for other in series[1:]:
        missing = pd.isna(result) | (result == "")
        if not missing.any():
            break
        result[missing] = np.asarray(other, dtype=object)[missing]
    result[pd.isna(result) | (result == "")] = None
    return pd.Series(result, index=series[0].index, dtype=object)


def _province_countries(province: pd.Series) -> np.ndarray:
    """The country a Chinese province-level name places a record in: CN, or HK, MO, TW for
    香港特别行政区, 澳门特别行政区, 台湾省."""
    values = province.to_numpy(dtype=object)
    out = np.where(pd.isna(values), None, "CN").astype(object)
    for name, iso in NON_MAINLAND_PROVINCES.items():
        out[values == name] = iso
    return out


def _fill_country(out: pd.DataFrame, countries: np.ndarray) -> None:
    """country_iso2 from one kind of evidence, where no stronger one has given it. The order of
    calls is the order of strength: the declared country (or the address' country line), a valid
    统一社会信用代码, a Chinese province in the address or name, a phone written with its
    country code, a Chinese landline's area code, the website's country-code domain."""
    missing = out["country_iso2"].isna().to_numpy() & ~pd.isna(countries)
    if missing.any():
        values = out["country_iso2"].to_numpy(dtype=object).copy()
        values[missing] = countries[missing]
        out["country_iso2"] = pd.Series(values, index=out.index, dtype=object)


def _flag(mask: pd.Series | np.ndarray, name: str) -> np.ndarray:
    return np.where(np.asarray(mask, dtype=bool), name, "")


def _with_nones(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns whose one missing value is None (not NaN, NA or NaT); most already are.
    Arrow-backed text stays as it is (a stage file's columns, read as stored): a Python string
    per row of every column was most of the step's memory, and the normalisers read the
    columns they need through `_distinct`, once per distinct value."""
    out = frame.astype({c: object for c in frame.columns if not is_arrow_text(frame[c])})
    for column in out.columns:
        if is_arrow_text(out[column]):
            continue
        values = out[column].to_numpy(dtype=object)
        missing = pd.isna(values)
        if missing.any() and (values[missing] != None).any():  # noqa: E711 (element-wise: NaN, NA, NaT)
            values = values.copy()
            values[missing] = None
            out[column] = values
    return out


def normalise_records(records: pd.DataFrame) -> pd.DataFrame:
    """EXTRACTED → NORMALISED. Pure: same input, same output; never raises on odd values."""
    require(records, EXTRACTED, "normalise")
    out = _with_nones(records[EXTRACTED])
    index = out.index
    flags: list[np.ndarray] = []
    out["country_iso2"] = _map_unique(out["country"], country_code)  # explicit: nothing below overrides it
    region = out["country_iso2"].fillna("")  # '': none given; phones are read as Chinese then, strictly

    # The column normalisers are independent and spend their time in Arrow kernels, which
    # release the GIL: two threads keep both cores busy.
    regions()
    # A name field that gives a Chinese and an English name: the Chinese one is the name, the
    # English one the second name when the source gave none (names.bilingual_parts). The fields
    # stay as read (they are passed on as they are, and a record read from the cache on a later
    # night must be the same record): only what is compared changes.
    name_values, name_codes = _distinct(out["company_name"])
    zh_part, en_part = bilingual_parts(name_values)
    split = pd.notna(zh_part)
    second = out["company_name_alt"]
    if split.any():
        name_values = np.where(split, zh_part, name_values)
        second = second.where(second.notna(), pd.Series(en_part[name_codes], index=index))
    distinct = {"company_name": (name_values, name_codes), "company_name_alt": _distinct(second),
                **{column: _distinct(out[column]) for column in ("uscc", "email", "website", "address", "phone")}}
    region_values, region_codes = _distinct(region)
    phone_values, phone_codes = distinct["phone"]
    pairs, pair_codes = np.unique(phone_codes.astype(np.int64) * len(region_values) + region_codes,
                                  return_inverse=True)
    half = len(name_values) // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {  # names, the longest job, in two halves so that neither thread waits on it alone
            "names": pool.submit(parse_names, name_values[:half]),
            "names_2": pool.submit(parse_names, name_values[half:]),
            "phones": pool.submit(normalise_phones, phone_values[pairs // len(region_values)],
                                  region_values[pairs % len(region_values)],
                                  region_values[pairs % len(region_values)] == ""),
            "websites": pool.submit(normalise_websites, distinct["website"][0]),
            "alt": pool.submit(parse_names, distinct["company_name_alt"][0]),
            "uscc": pool.submit(normalise_usccs, distinct["uscc"][0]),
            "emails": pool.submit(normalise_emails, distinct["email"][0]),
            "addresses": pool.submit(_addresses, out["address"]),
            "address_keys": pool.submit(address_keys, distinct["address"][0]),
        }
        done = {name: job.result() for name, job in jobs.items()}

    codes = distinct["company_name"][1]
    names = pd.concat([done["names"], done["names_2"]], ignore_index=True).iloc[codes].set_index(index)
    out["name_norm"] = names["display"].where(names["display"] != "", None)
    out["name_core"] = names["core"].where(names["core"] != "", None)
    alt = done["alt"]["core"].to_numpy(dtype=object)[distinct["company_name_alt"][1]]
    out["name_alt_core"] = np.where(pd.isna(second) | (alt == ""), None, alt)
    out["name_lang"] = names["lang"]
    out["legal_form"] = names["legal_form"].where(names["legal_form"] != "", None)
    out["is_branch"] = names["is_branch"]
    flags.append(names["flags"].to_numpy(dtype=object))

    uscc, valid = done["uscc"]
    codes = distinct["uscc"][1]
    out["uscc_norm"] = uscc[codes]
    out["uscc_valid"] = valid[codes]
    flags.append(_flag(out["uscc_norm"].notna() & ~out["uscc_valid"], "uscc_invalid"))
    # A Chinese code says the company is Chinese.
    out.loc[out["uscc_valid"] & out["country_iso2"].isna(), "country_iso2"] = "CN"

    e164, kind = done["phones"]
    out["phone_e164"] = e164[pair_codes]
    out["phone_type"] = kind[pair_codes]
    flags.append(_flag(out["phone"].notna() & out["phone_e164"].isna(), "phone_invalid"))

    codes = distinct["email"][1]
    email, domain, free = done["emails"]
    out["email_norm"], out["email_domain"], out["email_free"] = email[codes], domain[codes], free[codes]
    flags.append(_flag(out["email"].notna() & out["email_norm"].isna(), "email_invalid"))

    out["domain"] = done["websites"][distinct["website"][1]]
    # A company email on its own domain is as good as a website.
    company_mail = out["email_domain"].where(~out["email_free"], None)
    uniques, codes = _distinct(company_mail)
    out["domain"] = _first(out["domain"], pd.Series(normalise_websites(uniques)[codes], index=index))

    province, city = _cleaned(out["province"]), _cleaned(out["city"])
    given = _map_unique(province, lambda v: regions().resolve(v)[0] if v else None)
    given_city = _map_unique(city, lambda v: regions().resolve(v) if v else (None, None))
    addr = done["addresses"]
    out["province_norm"] = _first(given, given_city.map(lambda pc: pc[0]), addr["province"], names["province"], province)
    out["city_norm"] = _first(given_city.map(lambda pc: pc[1]), addr["city"], names["city"], city)
    _fill_country(out, _province_countries(out["province_norm"]))
    unplaced = np.flatnonzero(out["country_iso2"].isna().to_numpy() & out["phone_e164"].notna().to_numpy())
    by_phone = np.full(len(out), None, dtype=object)
    by_phone[unplaced] = phone_countries(out["phone"].to_numpy(dtype=object)[unplaced],
                                         out["phone_e164"].to_numpy(dtype=object)[unplaced])
    _fill_country(out, by_phone)  # only a phone written with its country code has a country of its own
    # A country-code domain (tisgismet.com.tr) before a landline's area code: Istanbul's
    # "(0212) 347 06 49", written without its country code, reads as Shanghai's (021).
    _fill_country(out, domain_countries(out["domain"]))
    # The place a Chinese landline's area code names (0755 → 深圳市): a last resort, and only for
    # a company that is in mainland China or nowhere known (a Hong Kong firm's +86 574 number
    # is its Ningbo office, not its seat), and that names no city outside China (Istanbul's
    # (0212) … is written as Shanghai's (021) … is).
    mainland = out["country_iso2"].isna() | (out["country_iso2"] == "CN")
    mainland &= out["city_norm"].isna() | out["province_norm"].notna()
    places = _distinct(pd.Series(phone_places(out["phone_e164"].to_numpy(dtype=object),
                                              out["phone_type"].to_numpy(dtype=object)), index=index).where(mainland))
    _, place_province, place_city = regions().strip_prefix_array(
        pa.array([(p + "公司") if isinstance(p, str) else "" for p in places[0]], pa.string()))
    out["province_norm"] = _first(out["province_norm"], pd.Series(place_province[places[1]], index=index, dtype=object))
    out["city_norm"] = _first(out["city_norm"], pd.Series(place_city[places[1]], index=index, dtype=object))
    _fill_country(out, _province_countries(out["province_norm"]))
    out["address_norm"] = done["address_keys"][distinct["address"][1]]

    joined = np.asarray(flags[0], dtype=object).copy()
    for flag in flags[1:]:
        hit = np.flatnonzero(np.asarray(flag, dtype=object) != "")
        joined[hit] = [f"{a};{b}" if a else b for a, b in zip(joined[hit], np.asarray(flag, dtype=object)[hit], strict=True)]
    out["flags"] = joined
    return NORMALISED_FILE.cast(out[NORMALISED], "normalise")  # the bool columns as the contract types them


# What a record's normalised columns depend on: its prospect fields and nothing else.
_CONTENT = [c for c in EXTRACTED if c in PROSPECT_FIELDS]


# Rows normalised at a time. Normalising works on Python objects, one per distinct
# value and a pointer per row and column; a million records at once held gigabytes of them,
# kept until the end. Each part's result is kept as Arrow text instead. Values normalise alike
# in any part, so the result is the same; a value repeated across parts is normalised again.
PART_ROWS = 250_000


def content_hashes(records: pd.DataFrame) -> np.ndarray:
    """A 64-bit fingerprint of each record's prospect fields (leadrank.fingerprints.row_hash):
    records with equal fingerprints normalise to equal values."""
    return row_hash(records, _CONTENT)


def normalise_in_parts(records: pd.DataFrame) -> pd.DataFrame:
    """`normalise_records`, a part at a time, each part's result kept as Arrow (text columns
    Arrow-backed in the result, as the columns passed through already are).

    Where several cores are there the parts are normalised side by side in worker processes:
    most of the work is pure Python (phone and name parsing), which threads cannot run side by
    side. Those parts are smaller (WORKER_PART_ROWS), so that the workers' Python objects and
    the parent's input and results stay under what one large part in-process peaked at: on the
    project generator's 1.4M records, normalising took 43 s and peaked at 1.6 GB in-process;
    in two workers, 38 s and 2.7 GB with parts of 250k rows, 31 s and 2.2 GB with parts of 60k."""
    if len(records) <= PART_ROWS:
        return normalise_records(records)
    parts = _in_processes(records, _processes()) or [_normalised_part(part) for part in _slices(records, PART_ROWS)]
    out = pa.concat_tables(parts, promote_options="permissive").to_pandas()
    out.index = records.index
    return out


# Worker processes for normalising at most (each costs a start, importing the normalisers, ~2 s),
# and the rows each normalises at a time.
MAX_PROCESSES = 4
WORKER_PART_ROWS = 50_000


def _processes() -> int:
    """How many worker processes normalise a large input: one per core the process may use (its
    CPU affinity and cgroup quota counted), at most MAX_PROCESSES; 1 = none, in-process."""
    return max(1, min(cpu_count(), MAX_PROCESSES))


def _in_processes(records: pd.DataFrame, processes: int) -> list[pa.Table] | None:
    """The parts normalised in `processes` worker processes; None with one (normalise in-process),
    or when the workers cannot start or one dies (a machine that forbids them, a worker killed
    for memory): the parts are then normalised in-process, slower, never lost.

    Each worker writes its parts to Arrow files in a temporary directory, read back once every
    part is done, instead of sending them to this process as they come: while the workers run,
    this process holds the records, and holding the parts too was the step's peak (at 1.4M
    records the process tree 2.6 GB, the parts ~0.7 GB of it; bench/README.md, issue 19's twelfth
    round). Where the directory cannot be made, the parts come back as they are done."""
    if processes < 2:
        return None
    try:
        folder = tempfile.TemporaryDirectory(prefix="leadrank-normalise-")
    except OSError:
        folder = None
    with folder or nullcontext():
        work = ((part, folder and os.path.join(folder.name, f"{i}.arrow"))
                for i, part in enumerate(_slices(records, min(PART_ROWS, WORKER_PART_ROWS))))
        done = in_workers(_normalised_part_file, work, processes, "normalising")
        return None if done is None else [_read_back(part) for part in done]


def _slices(records: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """The rows `size` at a time, in order (views: a worker's part is copied only when sent)."""
    return (records.iloc[start : start + size] for start in range(0, len(records), size))


def _normalised_part(records: pd.DataFrame) -> pa.Table:
    """One part's NORMALISED rows as Arrow: a table is cheap to send back from a worker."""
    return pa.Table.from_pandas(normalise_records(records), preserve_index=False)


def _normalised_part_file(work: tuple[pd.DataFrame, str | None]) -> str | pa.Table:
    """A worker's part (records, file): its NORMALISED rows written to the Arrow file, whose
    name is returned; the rows themselves when there is no file or it cannot be written (a full
    disk)."""
    records, path = work
    table = _normalised_part(records)
    if path is None:
        return table
    try:
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    except OSError:
        return table
    return path


def _read_back(part: str | pa.Table) -> pa.Table:
    """A part `_normalised_part_file` returned, as a table in memory."""
    if isinstance(part, pa.Table):
        return part
    with pa.OSFile(part, "rb") as source:  # (read, not mapped: the directory is removed next)
        return pa.ipc.open_file(source).read_all()


def _assembled(records: pd.DataFrame, fresh: np.ndarray, fresh_part: pd.DataFrame | None, known: pd.DataFrame,
               at_known: np.ndarray) -> pd.DataFrame:
    """Tonight's normalised records in the records' order, a column at a time: the extracted
    columns are the records' own (normalising passes them on as they are, missing as None: a
    take of every record's values cost ~0.5 s of a second night at 1.4M records), the normalised
    ones the `fresh` rows' from `fresh_part` and the others' from `known` (`at_known`: each
    record's row there). Each normalised column is taken once: selecting
    the reused rows, joining them to the fresh ones and putting them back in the records' order
    were three copies of every record (9.2 s against 7 s now for normalise_known at 1.4M on a
    second night). The few fresh rows take the known rows' text type, not the other way round.
    Each column of `records` and `known` is dropped from its frame once taken, so that tonight's
    columns replace the sources' one by one instead of joining all of them (a second night's
    normalise step at 1.4M records peaked here holding the three: 2,674-2,684 against
    1,989-1,998 MB now)."""
    reused = np.flatnonzero(~fresh)
    n_fresh = int(fresh.sum())
    position = np.empty(len(records), dtype=np.int64)
    position[fresh] = np.arange(n_fresh)
    columns = {}
    for column in NORMALISED:
        holder = records if column in EXTRACTED else known
        source = _with_nones(holder[[column]])[column]
        del holder[column]
        if column in EXTRACTED:
            columns[column] = source
            continue
        position[reused] = n_fresh + at_known[reused]
        if fresh_part is None:
            both = source
        else:
            values = fresh_part[column]
            if is_arrow_text(source) and values.dtype == object:
                values = values.astype(source.dtype)
            both = pd.concat([values, source], ignore_index=True)
        columns[column] = both.take(position).set_axis(records.index)
    return pd.DataFrame(columns, index=records.index)


def normalise_known(records: pd.DataFrame, known: pd.DataFrame | None, *, handed_over: bool = False
                    ) -> tuple[pd.DataFrame, int]:
    """`normalise_records`, reusing the normalised columns of `known` (NORMALISED_EXTRA plus
    `content_hash`, from an earlier night) for every record whose content it already holds.

    A night usually repeats almost all of the previous one; only new and changed records are
    normalised. Returns (NORMALISED plus `content_hash`, number of records normalised afresh).
    `handed_over`: the caller reads `records` no more, and its columns are dropped from it as
    tonight's are assembled (the cached values always are: they are this function's own copy)."""
    require(records, EXTRACTED, "normalise")
    hashes = content_hashes(records)
    if known is None or known.empty:
        fresh = np.ones(len(records), dtype=bool)
    else:
        known = _with_nones(known.drop_duplicates("content_hash").set_index("content_hash")[NORMALISED_EXTRA])
        at_known = known.index.get_indexer(hashes)  # (a hash table: np.isin sorted 1.4M hashes, ~2 s)
        fresh = at_known < 0
    if fresh.all():
        out = normalise_in_parts(records) if len(records) else pd.DataFrame(columns=NORMALISED, dtype=object)
    else:
        part = normalise_in_parts(records[fresh]) if fresh.any() else None
        out = _assembled(records if handed_over else records.copy(deep=False), fresh, part, known, at_known)
        del known
    out = NORMALISED_FILE.cast(out, "normalise")  # the cached values' bools came back as objects (_with_nones)
    out["content_hash"] = hashes
    return out, int(fresh.sum())
