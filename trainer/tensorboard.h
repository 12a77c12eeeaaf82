// TensorBoard event files without TensorFlow, torch or protobuf: scalars only, for the run directory's
// training curves (`tensorboard --logdir runs/`). Only rank 0 writes.
//   EventWriter tb(run_dir);
//   tb.scalar("train/loss", loss, step);
//   tb.flush();  // once per step: TensorBoard reads what is on disk
// The file is a sequence of TFRecords (uint64 length, masked CRC-32C of the length, data, masked CRC-32C of the
// data), each holding one serialized tensorflow.Event protobuf, encoded by hand (tensorboard.cpp).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace dsrl {

class EventWriter {
 public:
  // Creates `dir` if needed and dir/events.out.tfevents.<unix seconds>.<hostname>.dsrl, and writes the
  // file_version "brain.Event:2" record that readers expect first. One writer per directory: a second one
  // opened in the same second would replace the file. Throws dsrl::Error naming the path it cannot create.
  explicit EventWriter(const std::string& dir);
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Appends one scalar event: `tag` (e.g. "train/loss") at training step `step`, stamped with the wall time.
  // TensorBoard stores scalars as float32, so `value` loses precision beyond ~7 digits.
  void scalar(const std::string& tag, double value, int64_t step);

  // Pushes buffered records to the file. Throws dsrl::Error naming the file on a write error (disk full, ...).
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& event);  // frames one serialized Event as a TFRecord

  std::string path_;
  std::ofstream out_;
};

}  // namespace dsrl
