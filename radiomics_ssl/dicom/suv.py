"""PET body-weight SUV scale factor, after QIBA's vendor-neutral SUV pseudo-code.

Source: QIBA FDG-PET/CT profile, Appendix G "Vendor-neutral pseudo-codes for SUV calculation"
(QIBA wiki, "Standardized Uptake Value (SUV)"). The steps implemented here, in its order:

- `Units` BQML: SUVbw = (stored value * RescaleSlope + RescaleIntercept) * weight[kg] * 1000 /
  decayed dose, with the dose decayed from injection to the scan reference time by
  2 ** (-decay time / half-life) when `DecayCorrection` is START ("if Corrected Image contains ATTN
  and DECY and Decay Correction is START"). The reference is SeriesDate/SeriesTime unless the series
  time is after the acquisition time ("may be post-processed series"): then the GE private scan
  date-time (0009,100D, creator GEMS_PETD_01) where present, else the earliest AcquisitionDate/Time
  over all images of the series (all bed positions), so a multi-bed series whose beds carry their
  own AcquisitionTime gives one factor.
- `Units` GML: already SUVbw, factor 1 ("assumes that GML indicates SUVbw").
- `Units` CNTS: the Philips private SUV scale factor (7053,1000, creator "Philips PET Private Group");
  without it there is no vendor-neutral way, so it is refused.

Beyond the pseudo-code: DecayCorrection ADMIN means the values are already decay-corrected to the
injection time, so the dose is not decayed. Every input is read explicitly; a missing or zero one is
named in the error, never defaulted (the pseudo-code's first line: "SUV cannot be calculated if any
of the specified DICOM attributes are missing or empty or zero"). Per-slice RescaleSlope is applied
by the series reader before this factor (the pseudo-code warns GE varies it per slice).
"""
from datetime import datetime, timedelta

from radiomics_ssl.dicom.errors import DicomError

GE_CREATOR, PHILIPS_CREATOR = "GEMS_PETD_01", "Philips PET Private Group"


def _date(value):
  text = str(value).strip().replace(".", "").replace("-", "")  # old ACR-NEMA dates: YYYY.MM.DD
  return datetime.strptime(text[:8], "%Y%m%d")


def _time(value):
  """Seconds since midnight of a TM value (HHMMSS.FFFFFF, also HH, HHMM and the old HH:MM:SS)."""
  text = str(value).strip().replace(":", "")
  main, _, fraction = text.partition(".")
  hours, minutes, seconds = int(main[0:2]), int(main[2:4] or 0), int(main[4:6] or 0)
  return timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=int((fraction + "000000")[:6] or 0))


def _datetime(value):
  """A DT value (YYYYMMDDHHMMSS.FFFFFF, optional &ZZXX offset, which is dropped: both ends are local)."""
  text = str(value).strip()
  for sign in "+-":
    if sign in text[8:]:
      text = text[: 8 + text[8:].index(sign)]
  return _date(text[:8]) + (_time(text[8:]) if len(text) > 8 else timedelta())


def _positive(dataset, keyword, where, within=""):
  value = dataset.get(keyword)
  if value is None or str(value).strip() == "":
    raise DicomError(f"{where}: cannot compute SUV: {keyword}{within} is missing or empty")
  if float(value) <= 0:
    raise DicomError(f"{where}: cannot compute SUV: {keyword}{within} is {value}")
  return float(value)


def _private(dataset, group, element, creator):
  try:
    return dataset.get_private_item(group, element, creator).value
  except KeyError:
    return None


def _acquisition(header):
  if header.get("AcquisitionDateTime"):
    return _datetime(header.AcquisitionDateTime)
  if header.get("AcquisitionDate") and header.get("AcquisitionTime"):
    return _date(header.AcquisitionDate) + _time(header.AcquisitionTime)
  return None


def scan_datetime(headers, where):
  """(reference datetime, where it came from) after QIBA: series time, or, for a series time after the
  earliest acquisition time, the GE private scan time or that earliest acquisition time."""
  first = headers[0]
  for keyword in ("SeriesDate", "SeriesTime"):
    if not first.get(keyword):
      raise DicomError(f"{where}: cannot compute SUV: {keyword} is missing or empty")
  series = _date(first.SeriesDate) + _time(first.SeriesTime)
  acquisitions = [moment for moment in map(_acquisition, headers) if moment is not None]
  if not acquisitions or series <= min(acquisitions):
    return series, "SeriesDate/SeriesTime"
  ge = _private(first, 0x0009, 0x0D, GE_CREATOR)
  if ge:
    return _datetime(ge), "GE private scan date-time (0009,100D)"
  return min(acquisitions), "earliest AcquisitionDate/AcquisitionTime (series time is later)"


def suv_factor(headers, where):
  """(factor, inputs) turning the rescaled values of a PET series into SUVbw; `inputs` is JSON-able."""
  first = headers[0]
  units = str(first.get("Units", "")).strip().upper()
  if not units:
    raise DicomError(f"{where}: cannot compute SUV: Units (0054,1001) is missing or empty")
  inputs = {"Units": units}
  if units == "GML":
    return 1.0, dict(inputs, Factor=1.0, Note="Units GML: values are already SUVbw")
  if units == "CNTS":
    factors = {_private(h, 0x7053, 0x00, PHILIPS_CREATOR) for h in headers}
    if None in factors:
      raise DicomError(f"{where}: cannot compute SUV: Units CNTS without the Philips SUV scale factor (7053,1000)")
    if len({float(f) for f in factors}) != 1:
      raise DicomError(f"{where}: the Philips SUV scale factor (7053,1000) differs between slices ({sorted(factors)})")
    factor = float(factors.pop())
    return factor, dict(inputs, Factor=factor, PhilipsSUVScaleFactor=factor)
  if units != "BQML":
    raise DicomError(f"{where}: cannot compute SUV from Units {units} (BQML, GML or CNTS with Philips factor)")
  corrected = [str(v).upper() for v in (first.get("CorrectedImage") or [])]
  if isinstance(first.get("CorrectedImage"), str):
    corrected = [str(first.CorrectedImage).upper()]
  if "ATTN" not in corrected or "DECY" not in corrected:
    raise DicomError(f"{where}: cannot compute SUV: CorrectedImage (0028,0051) {corrected} lacks ATTN and DECY")
  decay_correction = str(first.get("DecayCorrection", "")).strip().upper()
  if decay_correction not in ("START", "ADMIN"):
    raise DicomError(f"{where}: cannot compute SUV: DecayCorrection (0054,1102) is {decay_correction or 'missing'} "
                     "(START or ADMIN)")
  weight = _positive(first, "PatientWeight", where)
  sequence = first.get("RadiopharmaceuticalInformationSequence")
  if not sequence:
    raise DicomError(f"{where}: cannot compute SUV: RadiopharmaceuticalInformationSequence is missing")
  drug, within = sequence[0], " in RadiopharmaceuticalInformationSequence"
  dose = _positive(drug, "RadionuclideTotalDose", where, within)
  inputs.update(DecayCorrection=decay_correction, PatientWeight_kg=weight, RadionuclideTotalDose_Bq=dose)
  if decay_correction == "ADMIN":
    decayed = dose
    inputs["Note"] = "DecayCorrection ADMIN: values are decay-corrected to the injection, the dose is not decayed"
  else:
    half_life = _positive(drug, "RadionuclideHalfLife", where, within)
    scan, source = scan_datetime(headers, where)
    if drug.get("RadiopharmaceuticalStartDateTime"):
      start, start_source = _datetime(drug.RadiopharmaceuticalStartDateTime), "RadiopharmaceuticalStartDateTime"
    elif drug.get("RadiopharmaceuticalStartTime"):
      start = _date(first.SeriesDate) + _time(drug.RadiopharmaceuticalStartTime)
      start_source = "RadiopharmaceuticalStartTime on SeriesDate"
      if start > scan:  # the pseudo-code: "assume same as Series Date; but consider spanning midnight"
        start, start_source = start - timedelta(days=1), start_source + " minus one day (injection before midnight)"
    else:
      raise DicomError(f"{where}: cannot compute SUV: RadiopharmaceuticalStartDateTime and RadiopharmaceuticalStartTime"
                       f"{within} are both missing")
    decay_time = (scan - start).total_seconds()
    if decay_time < 0:
      raise DicomError(f"{where}: cannot compute SUV: injection {start.isoformat()} is after the scan "
                       f"{scan.isoformat()}")
    decayed = dose * 2 ** (-decay_time / half_life)
    inputs.update(RadionuclideHalfLife_s=half_life, InjectionDateTime=start.isoformat(), InjectionSource=start_source,
                  ScanDateTime=scan.isoformat(), ScanTimeSource=source, DecayTime_s=decay_time)
  factor = weight * 1000.0 / decayed
  inputs.update(DecayedDose_Bq=decayed, Factor=factor)
  return factor, inputs
