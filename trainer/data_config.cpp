#include "trainer/data_config.h"

namespace dsrl {

void describe(ConfigIO& io, DataSourceConfig& c) {
  io.field("path", c.path);
  io.choice("format", c.format, {"text", "jsonl"});
  io.field("text_field", c.text_field);
  io.field("prompt_field", c.prompt_field);
  io.field("response_field", c.response_field);
  io.field("chat", c.chat);
  io.field("weight", c.weight, 1e-9, 1000.0);
  if (!io.reading()) return;
  if (c.path.empty()) io.fail("path", "must name a file");
  if (c.prompt_field.empty() != c.response_field.empty())
    io.fail(c.prompt_field.empty() ? "prompt_field" : "response_field",
            "must be set together with " + std::string(c.prompt_field.empty() ? "response_field" : "prompt_field") +
                " (a prompt/response pair), or both left empty (plain documents)");
  if (!c.prompt_field.empty() && c.format != "jsonl")
    io.fail("prompt_field", "needs format: jsonl, got format: " + c.format);
}

void describe(ConfigIO& io, SyntheticConfig& c) {
  io.choice("task", c.task, {"", "arithmetic", "copy", "reverse"});
  io.field("count", c.count, 1, 10000000);
  io.field("seed", c.seed);
  io.field("max_value", c.max_value, 1, 1000000);
  io.field("max_length", c.max_length, 1, 1000);
}

void describe(ConfigIO& io, DataConfig& c) {
  io.list("sources", c.sources);
  io.section("synthetic", c.synthetic);
  io.field("seq_len", c.seq_len, 1, 1 << 20);
  io.field("seed", c.seed);
  io.field("shuffle", c.shuffle);
  io.field("sft", c.sft);
  io.field("eos_token", c.eos_token);
  io.field("pad_token", c.pad_token);
}

}  // namespace dsrl
