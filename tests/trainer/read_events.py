#!/usr/bin/env python3
"""Reads a TensorBoard log folder with TensorBoard's own readers (used by tensorboard_test.cpp).

  read_events.py DIR
prints, one per line, for the single event file in DIR, as TensorBoard's record reader (which checks every
record's CRCs and stops at the first bad one) returns its raw Event protos:
  file_version <version> <wall_time>
  scalar <tag> <step> <simple_value, repr of the float32 as a Python float> <wall_time>
and then, as the EventAccumulator behind the TensorBoard UI loads the folder:
  accumulated <tag> <step> <value>
Exit 0 unless the folder cannot be read. Tags must not contain spaces.
"""
import glob
import logging
import sys

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(folder):
    logging.disable(logging.WARNING)  # the readers log "no TensorFlow installed" and the like
    files = glob.glob(folder + "/*tfevents*")
    if len(files) != 1:
        sys.exit(f"expected one event file in {folder}, found {files}")
    for event in event_file_loader.LegacyEventFileLoader(files[0]).Load():
        if event.HasField("file_version"):
            print("file_version", event.file_version, repr(event.wall_time))
        for value in event.summary.value:
            print("scalar", value.tag, event.step, repr(value.simple_value), repr(event.wall_time))
    acc = EventAccumulator(folder, size_guidance={"scalars": 0})  # 0: keep every point, no reservoir sampling
    acc.Reload()
    for tag in sorted(acc.Tags()["scalars"]):
        for point in acc.Scalars(tag):
            print("accumulated", tag, point.step, repr(point.value))


if __name__ == "__main__":
    main(sys.argv[1])
