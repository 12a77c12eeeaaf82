// General-agent environments (torch-free): a small generated shop database the agent queries with tools, and a
// question whose answer takes more lookups at higher difficulty. The tables are CSV files in the task's files, so
// each task carries its own environment (GrpoPrompt::files, one Workspace per trajectory) and a task set is plain
// JSONL. The rule reward checks the number on the "Answer:" line.
//   tables:  customers.csv (id, name, city), orders.csv (id, customer_id, item, quantity, unit_price)
//   tools:   list_tables; query {table, column, value}: the rows whose column equals value; calculator alongside
//   difficulty 1  order_quantity  "How many units are in order 17?"                       1 query
//              2  order_count     "How many orders has Ada placed?"                       2 queries
//              3  city_spend      "What did the customers in Lyon spend in total?"        1 + n queries, a sum
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/code_tasks.h"
#include "agent/tools.h"

namespace dsrl {

constexpr int kRecordsMaxDifficulty = 3;

struct RecordsTask {
  std::string question;                      // e.g. "How many units are in order 17?"
  std::string statement;                     // the user message: the question and how to answer (records_statement)
  std::map<std::string, std::string> files;  // customers.csv, orders.csv
  std::string answer;                        // an integer, in decimal
  int difficulty = 1;                        // 1..kRecordsMaxDifficulty
  std::string template_name;                 // order_quantity | order_count | city_spend
  // A worked solution for the cold start: per turn, its tool calls (name, JSON arguments); an answer turn follows.
  std::vector<std::vector<std::pair<std::string, std::string>>> solution_calls;
  // A Python program that prints the answer from the CSV files beside it (the verifier a policy-written task
  // carries, agent/records_proposals.h; the cold start's worked proposal).
  std::string solution_program;
};

// The user message of a records question: the question, then how to answer it with the tools.
std::string records_statement(const std::string& question);

// `count` tasks of `difficulty`, each with its own database (larger at higher difficulty), the same for the same
// seed. Throws dsrl::Error on count outside [1, 100000] or difficulty outside [1, kRecordsMaxDifficulty].
std::vector<RecordsTask> make_records_tasks(int64_t count, int difficulty, uint64_t seed);

// list_tables and query over the CSV files of `workspace` (read only; it must outlive the registry).
void add_records_tools(ToolRegistry& registry, const Workspace& workspace);

}  // namespace dsrl
