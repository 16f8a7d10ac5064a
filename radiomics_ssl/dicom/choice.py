"""Choosing one structure of an RTSTRUCT or one segment of a SEG: by name, by number, or the only one.

A batch CSV row names it by `ROI` (exact name, case-insensitive) or by `Label` (its number); both
given must agree. Every refusal lists what the file holds, so the user can fix the row in one go.
"""
from radiomics_ssl.dicom.errors import DicomError


def choose(found, path, roi=None, number=None, item="ROI", container="the structure set"):
  """found: {number: name} -> (number, name) of the chosen one; DicomError naming `path` otherwise."""
  listing = ", ".join(f"{n}: {name!r}" for n, name in found.items()) or "none"
  if roi is not None:
    matches = [n for n, name in found.items() if name.lower() == str(roi).strip().lower()]
    if not matches:
      raise DicomError(f"{path}: {item} {roi!r} not in {container} ({item}s present: {listing})")
    if len(matches) > 1:
      raise DicomError(f"{path}: {item} name {roi!r} is used by numbers {matches}; choose by number (Label)")
    if number is not None and int(number) != matches[0]:
      raise DicomError(f"{path}: {item} {roi!r} is number {matches[0]}, not the label {number} also given")
    return matches[0], found[matches[0]]
  if number is not None:
    if int(number) not in found:
      raise DicomError(f"{path}: {item} number {number} not in {container} ({item}s present: {listing})")
    return int(number), found[int(number)]
  if len(found) != 1:
    raise DicomError(f"{path}: {len(found)} {item}s, choose one by name (ROI) or number (Label) ({item}s present: {listing})")
  return next(iter(found.items()))
