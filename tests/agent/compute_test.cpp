// The code-interpreter tasks: every family's answer, computed here in C++, equals what its Python program prints
// when run in the sandbox, and questions are deterministic per seed.
#include <gtest/gtest.h>

#include <set>

#include "agent/compute_tasks.h"
#include "agent/python_tool.h"
#include "common/error.h"

namespace dsrl {
namespace {

TEST(ComputeTasks, AnswersEqualWhatTheirProgramsPrint) {
  const std::vector<ComputeTask> tasks = make_compute_tasks(12, 5);
  PythonTool python{PythonToolConfig{}};
  std::set<std::string> families;
  for (const ComputeTask& t : tasks) {
    families.insert(t.family);
    const SandboxResult r = python.run(t.program);
    EXPECT_EQ(r.exit_code, 0) << t.family << ": " << r.output;
    EXPECT_EQ(r.output, t.answer + "\n") << t.question;
    EXPECT_NE(t.question.find("Answer: <number>"), std::string::npos);
  }
  EXPECT_EQ(families.size(), 4u);
}

TEST(ComputeTasks, SameSeedSameTasks) {
  const auto a = make_compute_tasks(8, 3), b = make_compute_tasks(8, 3), c = make_compute_tasks(8, 4);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].question, b[i].question);
  EXPECT_NE(a[0].question, c[0].question);
  EXPECT_THROW(make_compute_tasks(0, 1), Error);
}

}  // namespace
}  // namespace dsrl
