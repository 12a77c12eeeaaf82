#include "agent/records.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>
#include <sstream>

#include "common/error.h"

namespace dsrl {
namespace {

const char* const kNames[] = {"Ada",  "Bram", "Cleo",  "Dario", "Edda", "Farid", "Greta", "Hugo",
                              "Ines", "Jonas", "Kira", "Lars",  "Mina", "Nils",  "Olga",  "Pavel",
                              "Rosa", "Soren", "Tess", "Umar",  "Vera", "Wim",   "Yara",  "Zeno"};
const char* const kCities[] = {"Lyon", "Porto", "Graz", "Turku", "Split", "Ghent", "Brno", "Cork"};
const char* const kItems[] = {"lamp", "kettle", "chair", "rug", "mirror", "clock", "vase", "shelf"};
const char* const kHow =
    " Look it up in the shop database with the tools (list_tables, query), and end with a line \"Answer: N\".";

struct Customer {
  int64_t id;
  std::string name, city;
};
struct Order {
  int64_t id, customer_id;
  std::string item;
  int64_t quantity, unit_price;
};

int64_t pick(std::mt19937_64& rng, int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); }

std::string query_call(const std::string& table, const std::string& column, const std::string& value) {
  return nlohmann::json{{"table", table}, {"column", column}, {"value", value}}.dump();
}

// One task's database: more customers, orders and cities at higher difficulty.
void make_database(std::mt19937_64& rng, int difficulty, std::vector<Customer>* customers, std::vector<Order>* orders) {
  std::vector<std::string> names(std::begin(kNames), std::end(kNames));
  std::shuffle(names.begin(), names.end(), rng);
  const int64_t first_id = 1 + pick(rng, 50), first_order = 100 + pick(rng, 800);
  for (int64_t i = 0; i < 4 + 2 * difficulty; ++i)
    customers->push_back({first_id + i, names[i], kCities[pick(rng, 3 + difficulty)]});
  for (int64_t i = 0; i < 6 + 4 * difficulty; ++i)
    orders->push_back({first_order + i, (*customers)[pick(rng, customers->size())].id, kItems[pick(rng, 8)],
                       1 + pick(rng, 9), 2 + pick(rng, 59)});
}

std::map<std::string, std::string> as_files(const std::vector<Customer>& customers, const std::vector<Order>& orders) {
  std::string c = "id,name,city\n", o = "id,customer_id,item,quantity,unit_price\n";
  for (const Customer& x : customers) c += fmt::format("{},{},{}\n", x.id, x.name, x.city);
  for (const Order& x : orders)
    o += fmt::format("{},{},{},{},{}\n", x.id, x.customer_id, x.item, x.quantity, x.unit_price);
  return {{"customers.csv", c}, {"orders.csv", o}};
}

RecordsTask order_quantity(std::mt19937_64& rng, const std::vector<Customer>&, const std::vector<Order>& orders) {
  const Order& o = orders[pick(rng, orders.size())];
  RecordsTask t;
  t.question = fmt::format("How many units are in order {}?", o.id);
  t.answer = std::to_string(o.quantity);
  t.solution_program = fmt::format(
      "import csv\n"
      "orders = csv.DictReader(open('orders.csv'))\n"
      "print(sum(int(o['quantity']) for o in orders if o['id'] == '{}'))\n", o.id);
  t.template_name = "order_quantity";
  t.solution_calls = {{{"query", query_call("orders", "id", std::to_string(o.id))}}};
  return t;
}

RecordsTask order_count(std::mt19937_64& rng, const std::vector<Customer>& customers,
                        const std::vector<Order>& orders) {
  const Customer& c = customers[pick(rng, customers.size())];
  const auto n = std::count_if(orders.begin(), orders.end(), [&](const Order& o) { return o.customer_id == c.id; });
  RecordsTask t;
  t.question = fmt::format("How many orders has {} placed?", c.name);
  t.answer = std::to_string(n);
  t.solution_program = fmt::format(
      "import csv\n"
      "ids = {{c['id'] for c in csv.DictReader(open('customers.csv')) if c['name'] == '{}'}}\n"
      "print(sum(1 for o in csv.DictReader(open('orders.csv')) if o['customer_id'] in ids))\n", c.name);
  t.template_name = "order_count";
  t.solution_calls = {{{"query", query_call("customers", "name", c.name)}},
                      {{"query", query_call("orders", "customer_id", std::to_string(c.id))}}};
  return t;
}

RecordsTask city_spend(std::mt19937_64& rng, const std::vector<Customer>& customers, const std::vector<Order>& orders) {
  // A city of a customer who ordered something, so the sum is never empty.
  const Order& some = orders[pick(rng, orders.size())];
  const auto buyer = [&](const Customer& c) { return c.id == some.customer_id; };
  const std::string city = std::find_if(customers.begin(), customers.end(), buyer)->city;
  RecordsTask t;
  t.question = fmt::format("How much did the customers in {} spend in total (quantity times unit price, summed "
                           "over all their orders)?", city);
  t.solution_program = fmt::format(
      "import csv\n"
      "ids = {{c['id'] for c in csv.DictReader(open('customers.csv')) if c['city'] == '{}'}}\n"
      "print(sum(int(o['quantity']) * int(o['unit_price']) for o in csv.DictReader(open('orders.csv'))\n"
      "          if o['customer_id'] in ids))\n", city);
  t.template_name = "city_spend";
  t.solution_calls = {{{"query", query_call("customers", "city", city)}}, {}};
  int64_t total = 0;
  std::string sum;
  for (const Customer& c : customers) {
    if (c.city != city) continue;
    t.solution_calls[1].emplace_back("query", query_call("orders", "customer_id", std::to_string(c.id)));
    for (const Order& o : orders) {
      if (o.customer_id != c.id) continue;
      total += o.quantity * o.unit_price;
      sum += fmt::format("{}{} * {}", sum.empty() ? "" : " + ", o.quantity, o.unit_price);
    }
  }
  t.solution_calls.push_back({{"calculator", nlohmann::json{{"expression", sum}}.dump()}});
  t.answer = std::to_string(total);
  return t;
}

// A CSV file as rows of fields (plain CSV: no quoting).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    rows.push_back(std::move(fields));
  }
  return rows;
}

ToolResult error(const std::string& what) { return {"error: " + what, false}; }

// The table `name` ("orders" or "orders.csv") of the workspace, or nullptr.
const std::string* table_file(const Workspace& w, const std::string& name) {
  for (const std::string& path : {name, name + ".csv"}) {
    auto it = w.files.find(path);
    if (it != w.files.end() && path.size() > 4 && path.compare(path.size() - 4, 4, ".csv") == 0) return &it->second;
  }
  return nullptr;
}

class ListTablesTool : public Tool {
 public:
  explicit ListTablesTool(const Workspace& w) : w_(w) {}
  std::string name() const override { return "list_tables"; }
  std::string schema_json() const override {
    return tool_schema(name(), "Lists the database's tables with their columns and row counts.", {});
  }
  ToolResult call(const std::string&) override {
    std::string out;
    for (const auto& [path, content] : w_.files) {
      if (path.size() < 5 || path.compare(path.size() - 4, 4, ".csv") != 0) continue;
      const auto rows = parse_csv(content);
      std::string columns;
      if (!rows.empty())
        for (const auto& c : rows[0]) columns += (columns.empty() ? "" : ", ") + c;
      out += fmt::format("{} ({}; {} rows)\n", path.substr(0, path.size() - 4), columns,
                         rows.empty() ? 0 : rows.size() - 1);
    }
    return {out.empty() ? "(no tables)" : out, true};
  }

 private:
  const Workspace& w_;
};

class QueryTool : public Tool {
 public:
  explicit QueryTool(const Workspace& w) : w_(w) {}
  std::string name() const override { return "query"; }
  std::string schema_json() const override {
    return tool_schema(name(), "Returns the rows of a table whose column equals the value, as CSV.",
                       {{"table", "string", "a table list_tables names"},
                        {"column", "string", "one of the table's columns"},
                        {"value", "string", "the value to match exactly"}});
  }
  ToolResult call(const std::string& arguments) override {
    const nlohmann::json args = nlohmann::json::parse(arguments);
    std::string table, column, value;
    for (auto [key, out] :
         {std::pair<const char*, std::string*>{"table", &table}, {"column", &column}, {"value", &value}}) {
      auto it = args.find(key);
      if (it == args.end()) return error(fmt::format("query needs the argument \"{}\"", key));
      *out = it->is_string() ? it->get<std::string>() : it->dump();  // a number matches its decimal text
    }
    const std::string* file = table_file(w_, table);
    if (!file) return error(fmt::format("no table '{}' (use list_tables)", table));
    const auto rows = parse_csv(*file);
    if (rows.empty()) return {"(the table is empty)", true};
    const auto col = std::find(rows[0].begin(), rows[0].end(), column);
    if (col == rows[0].end()) return error(fmt::format("table '{}' has no column '{}'", table, column));
    const size_t c = static_cast<size_t>(col - rows[0].begin());
    std::string out;
    int64_t matched = 0;
    for (size_t r = 1; r < rows.size(); ++r) {
      if (c >= rows[r].size() || rows[r][c] != value) continue;
      if (++matched > kMaxRows) continue;
      std::string line;
      for (const auto& f : rows[r]) line += (line.empty() ? "" : ",") + f;
      out += line + "\n";
    }
    if (matched == 0) return {fmt::format("(no rows where {} = {})", column, value), true};
    std::string header;
    for (const auto& f : rows[0]) header += (header.empty() ? "" : ",") + f;
    if (matched > kMaxRows) out += fmt::format("({} more rows)\n", matched - kMaxRows);
    return {header + "\n" + out, true};
  }

 private:
  static constexpr int64_t kMaxRows = 20;
  const Workspace& w_;
};

}  // namespace

std::vector<RecordsTask> make_records_tasks(int64_t count, int difficulty, uint64_t seed) {
  DSRL_CHECK(count >= 1 && count <= 100000, "records tasks: count must be in [1, 100000], got {}", count);
  DSRL_CHECK(difficulty >= 1 && difficulty <= kRecordsMaxDifficulty,
             "records tasks: difficulty must be in [1, {}], got {}", kRecordsMaxDifficulty, difficulty);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 17 + static_cast<uint64_t>(difficulty));
  std::vector<RecordsTask> out;
  for (int64_t i = 0; i < count; ++i) {
    std::vector<Customer> customers;
    std::vector<Order> orders;
    make_database(rng, difficulty, &customers, &orders);
    RecordsTask t = difficulty == 1   ? order_quantity(rng, customers, orders)
                    : difficulty == 2 ? order_count(rng, customers, orders)
                                      : city_spend(rng, customers, orders);
    t.files = as_files(customers, orders);
    t.statement = records_statement(t.question);
    t.difficulty = difficulty;
    out.push_back(std::move(t));
  }
  return out;
}

std::string records_statement(const std::string& question) { return question + kHow; }

void add_records_tools(ToolRegistry& registry, const Workspace& workspace) {
  registry.add(std::make_unique<ListTablesTool>(workspace));
  registry.add(std::make_unique<QueryTool>(workspace));
}

}  // namespace dsrl
