// General-agent records environments: the worked solution, replayed through the real tools, reaches the stated
// answer at every difficulty; the tools answer what the tables hold and refuse bad arguments with errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "agent/calculator.h"
#include "agent/records.h"
#include "agent/records_proposals.h"
#include "common/error.h"

namespace dsrl {
namespace {

// The data rows of a query result (header and notes dropped).
std::vector<std::vector<std::string>> rows_of(const std::string& result) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(result);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '(') continue;
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    rows.push_back(fields);
  }
  return rows;
}

TEST(Records, TheWorkedSolutionReachesTheAnswer) {
  for (int difficulty = 1; difficulty <= kRecordsMaxDifficulty; ++difficulty) {
    for (const RecordsTask& t : make_records_tasks(20, difficulty, 3)) {
      Workspace w{t.files};
      ToolRegistry tools;
      add_records_tools(tools, w);
      tools.add(std::make_unique<CalculatorTool>());
      std::vector<std::vector<ToolResult>> results;
      for (const auto& turn : t.solution_calls) {
        results.emplace_back();
        for (const auto& [name, args] : turn) {
          results.back().push_back(tools.call(name, args));
          ASSERT_TRUE(results.back().back().ok) << t.statement << ": " << results.back().back().text;
        }
      }
      if (t.template_name == "order_quantity") {
        const auto rows = rows_of(results[0][0].text);
        ASSERT_EQ(rows.size(), 1u) << results[0][0].text;
        EXPECT_EQ(rows[0][3], t.answer) << "quantity column";
      } else if (t.template_name == "order_count") {
        EXPECT_EQ(std::to_string(rows_of(results[1][0].text).size()), t.answer) << results[1][0].text;
        if (t.answer == "0") EXPECT_NE(results[1][0].text.find("(no rows"), std::string::npos);
      } else {
        ASSERT_EQ(t.template_name, "city_spend");
        int64_t total = 0;  // from the rows the queries returned, not from the generator
        for (const ToolResult& r : results[1])
          for (const auto& row : rows_of(r.text)) total += std::stoll(row[3]) * std::stoll(row[4]);
        EXPECT_EQ(std::to_string(total), t.answer);
        EXPECT_EQ(results[2][0].text, t.answer) << "the calculator's sum";
      }
      EXPECT_EQ(t.difficulty, difficulty);
    }
  }
  EXPECT_EQ(make_records_tasks(3, 2, 9)[2].statement, make_records_tasks(3, 2, 9)[2].statement) << "seeded";
  EXPECT_GT(make_records_tasks(1, 3, 1)[0].files.at("orders.csv").size(),
            make_records_tasks(1, 1, 1)[0].files.at("orders.csv").size()) << "larger databases when harder";
  EXPECT_THROW(make_records_tasks(1, 0, 1), Error);
  EXPECT_THROW(make_records_tasks(1, kRecordsMaxDifficulty + 1, 1), Error);
}

TEST(Records, ToolsAnswerFromTheTablesAndRefuseBadArguments) {
  Workspace w{{{"customers.csv", "id,name,city\n1,Ada,Lyon\n2,Bram,Graz\n3,Cleo,Lyon\n"}, {"notes.txt", "x"}}};
  ToolRegistry tools;
  add_records_tools(tools, w);
  EXPECT_EQ(tools.call("list_tables", "{}").text, "customers (id, name, city; 3 rows)\n");
  auto query = [&](const nlohmann::json& args) { return tools.call("query", args.dump()); };
  EXPECT_EQ(query({{"table", "customers"}, {"column", "city"}, {"value", "Lyon"}}).text,
            "id,name,city\n1,Ada,Lyon\n3,Cleo,Lyon\n");
  EXPECT_EQ(query({{"table", "customers.csv"}, {"column", "id"}, {"value", 2}}).text, "id,name,city\n2,Bram,Graz\n")
      << "a number matches its decimal text";
  EXPECT_EQ(query({{"table", "customers"}, {"column", "city"}, {"value", "Oslo"}}).text, "(no rows where city = Oslo)");
  EXPECT_FALSE(query({{"table", "notes"}, {"column", "x"}, {"value", "x"}}).ok) << "not a table";
  EXPECT_NE(query({{"table", "orders"}, {"column", "id"}, {"value", "1"}}).text.find("no table 'orders'"),
            std::string::npos);
  EXPECT_NE(query({{"table", "customers"}, {"column", "age"}, {"value", "1"}}).text.find("has no column 'age'"),
            std::string::npos);
  EXPECT_NE(query({{"table", "customers"}, {"column", "id"}}).text.find("needs the argument \"value\""),
            std::string::npos);
}

}  // namespace
}  // namespace dsrl

// Policy-written tasks: a template task's worked proposal parses, and its program, run in the sandbox beside the
// tables, prints the template's answer; bad proposals are refused with the reason.
namespace dsrl {
namespace {

const PythonTool& sandbox_python() {
  static const PythonTool* p = new PythonTool(PythonToolConfig{});
  return *p;
}

TEST(RecordsProposals, WorkedProposalsPrintTheTemplateAnswer) {
  for (int difficulty = 1; difficulty <= kRecordsMaxDifficulty; ++difficulty) {
    for (const RecordsTask& t : make_records_tasks(4, difficulty, 11)) {
      std::string why;
      const auto p = parse_task_proposal("Sure.\n" + records_worked_proposal(t) + "\nDone.", &why);
      ASSERT_TRUE(p.has_value()) << why;
      EXPECT_EQ(p->question, t.question);
      EXPECT_EQ(records_statement(p->question), t.statement);
      EXPECT_EQ(proposal_answer(*p, t.files, sandbox_python(), &why), t.answer) << why << "\n" << p->program;
    }
  }
}

TEST(RecordsProposals, BadProposalsAreRefusedWithTheReason) {
  std::string why;
  EXPECT_FALSE(parse_task_proposal("What is in order 3?\n```python\nprint(1)\n```", &why));
  EXPECT_EQ(why, "no \"Question:\" line");
  EXPECT_FALSE(parse_task_proposal("Question: lamps\n```python\nprint(1)\n```", &why));
  EXPECT_EQ(why, "the question is empty or does not end in '?'");
  EXPECT_FALSE(parse_task_proposal("Question: How many?\nprint(1)", &why));
  EXPECT_EQ(why, "no ```python block after the question");
  EXPECT_FALSE(parse_task_proposal("Question: How many?\n```python\nprint(1)\n", &why));
  EXPECT_EQ(why, "the ```python block is not closed");
  EXPECT_FALSE(parse_task_proposal("Question: How many?\n```python\n \n```", &why));
  EXPECT_EQ(why, "the program is empty");

  const RecordsTask t = make_records_tasks(1, 1, 2)[0];
  auto answer = [&](const std::string& program) {
    why.clear();
    return proposal_answer(TaskProposal{"How many?", program}, t.files, sandbox_python(), &why);
  };
  EXPECT_EQ(answer("import csv\nprint(len(list(csv.DictReader(open('orders.csv')))))\n"), "10") << why;
  EXPECT_FALSE(proposal_answer(TaskProposal{"How many units are in order 782?", "x = 1 if o['id'] == '747'"},
                               t.files, sandbox_python(), &why));
  EXPECT_EQ(why, "the program looks up '747', which the question does not name");
  EXPECT_FALSE(proposal_answer(TaskProposal{"How many units are in order 1747?", "x = o[\"id\"] == \"747\""}, t.files,
                               sandbox_python(), &why))
      << "a whole word, not a part of one";
  EXPECT_FALSE(answer("print('ten')\n"));
  EXPECT_EQ(why, "the program ended with exit 0 and printed 'ten'");
  EXPECT_FALSE(answer("print(1)\nprint(2)\n"));
  EXPECT_FALSE(answer("print(1.5)\n"));
  EXPECT_FALSE(answer("open('missing.csv')\n"));
  EXPECT_NE(why.find("the program ended with exit 1 and printed 'Traceback"), std::string::npos) << why;
  EXPECT_NE(records_proposal_prompt(t.files).find("orders.csv:\nid,customer_id,item,quantity,unit_price\n"),
            std::string::npos);
}

}  // namespace
}  // namespace dsrl
