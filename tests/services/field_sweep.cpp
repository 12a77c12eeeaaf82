#include "tests/services/field_sweep.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>

#include <cmath>
#include <functional>
#include <limits>

namespace dsrl::testing {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Sets one field (element `index` of a repeated field, or the singular field when index < 0) in a message.
using Setter = std::function<void(Message&, const FieldDescriptor*, int index)>;

struct Value {
  std::string text;
  Setter set;
};

template <typename T>
std::vector<Value> numbers(std::vector<T> values, void (Reflection::*set)(Message*, const FieldDescriptor*, T) const,
                           void (Reflection::*set_at)(Message*, const FieldDescriptor*, int, T) const) {
  std::vector<Value> out;
  for (T v : values) {
    out.push_back({fmt::format("{}", v), [=](Message& m, const FieldDescriptor* f, int i) {
                     const Reflection* r = m.GetReflection();
                     if (i < 0) (r->*set)(&m, f, v);
                     else (r->*set_at)(&m, f, i, v);
                   }});
  }
  return out;
}

std::vector<Value> strings(const std::vector<std::pair<std::string, std::string>>& values) {
  std::vector<Value> out;
  for (const auto& [text, v] : values) {
    out.push_back({text, [v = v](Message& m, const FieldDescriptor* f, int i) {
                     const Reflection* r = m.GetReflection();
                     if (i < 0) r->SetString(&m, f, v);
                     else r->SetRepeatedString(&m, f, i, v);
                   }});
  }
  return out;
}

std::vector<Value> hostile_values(const FieldDescriptor* f) {
  constexpr double kNan = std::numeric_limits<double>::quiet_NaN(), kInf = std::numeric_limits<double>::infinity();
  using R = Reflection;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return numbers<int32_t>({INT32_MIN, -1, 0, INT32_MAX}, &R::SetInt32, &R::SetRepeatedInt32);
    case FieldDescriptor::CPPTYPE_INT64:
      return numbers<int64_t>({INT64_MIN, -1, 0, INT64_MAX}, &R::SetInt64, &R::SetRepeatedInt64);
    case FieldDescriptor::CPPTYPE_UINT32:
      return numbers<uint32_t>({0, 1u << 31, UINT32_MAX}, &R::SetUInt32, &R::SetRepeatedUInt32);
    case FieldDescriptor::CPPTYPE_UINT64:
      return numbers<uint64_t>({0, 1ull << 63, UINT64_MAX}, &R::SetUInt64, &R::SetRepeatedUInt64);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return numbers<float>({static_cast<float>(kNan), static_cast<float>(kInf), -static_cast<float>(kInf), -1.0f,
                             0.0f, 1e-42f, 1e30f},
                            &R::SetFloat, &R::SetRepeatedFloat);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return numbers<double>({kNan, kInf, -kInf, -1.0, 0.0, 1e300}, &R::SetDouble, &R::SetRepeatedDouble);
    case FieldDescriptor::CPPTYPE_BOOL:
      return numbers<bool>({false, true}, &R::SetBool, &R::SetRepeatedBool);
    case FieldDescriptor::CPPTYPE_ENUM:
      return numbers<int>({-1, 99}, &R::SetEnumValue, &R::SetRepeatedEnumValue);
    case FieldDescriptor::CPPTYPE_STRING: {
      std::vector<std::pair<std::string, std::string>> values = {
          {"\"\"", ""}, {"a NUL byte", std::string("a\0b", 3)}, {"1 MiB", std::string(1 << 20, 'x')}};
      if (f->type() == FieldDescriptor::TYPE_BYTES) values.push_back({"binary", std::string("\xff\x00\x80\x7f", 4)});
      return strings(values);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return {};
  }
  return {};
}

void add(std::vector<FieldVariant>& out, const Message& root, const std::string& change,
         const std::function<void(Message&)>& edit) {
  std::unique_ptr<Message> copy(root.New());
  copy->CopyFrom(root);
  edit(*copy);
  if (copy->SerializeAsString() != root.SerializeAsString()) out.push_back({change, std::move(copy)});
}

// Appends `times` copies of element 0 of a repeated field.
void append_copies_of_first(Message& m, const FieldDescriptor* f, int times) {
  const Reflection* r = m.GetReflection();
  for (int i = 0; i < times; ++i) {
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: r->AddInt32(&m, f, r->GetRepeatedInt32(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_INT64: r->AddInt64(&m, f, r->GetRepeatedInt64(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_UINT32: r->AddUInt32(&m, f, r->GetRepeatedUInt32(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_UINT64: r->AddUInt64(&m, f, r->GetRepeatedUInt64(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_FLOAT: r->AddFloat(&m, f, r->GetRepeatedFloat(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_DOUBLE: r->AddDouble(&m, f, r->GetRepeatedDouble(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_BOOL: r->AddBool(&m, f, r->GetRepeatedBool(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_ENUM: r->AddEnumValue(&m, f, r->GetRepeatedEnumValue(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_STRING: r->AddString(&m, f, r->GetRepeatedString(m, f, 0)); break;
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        std::unique_ptr<Message> first(r->GetRepeatedMessage(m, f, 0).New());
        first->CopyFrom(r->GetRepeatedMessage(m, f, 0));
        r->AddMessage(&m, f)->CopyFrom(*first);
        break;
      }
    }
  }
}

// `reach` finds the message being swept inside a copy of the root.
void sweep(std::vector<FieldVariant>& out, const Message& root, const Message& here, const std::string& prefix,
           const std::function<Message&(Message&)>& reach) {
  const auto* d = here.GetDescriptor();
  const Reflection* r = here.GetReflection();
  for (int k = 0; k < d->field_count(); ++k) {
    const FieldDescriptor* f = d->field(k);
    const std::string name = prefix + f->name();
    if (f->is_repeated()) {
      const int size = r->FieldSize(here, f);
      add(out, root, name + " emptied", [&](Message& m) { reach(m).GetReflection()->ClearField(&reach(m), f); });
      if (size == 0) continue;
      add(out, root, name + " x1001", [&](Message& m) { append_copies_of_first(reach(m), f, 1000); });
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        const Message& first = r->GetRepeatedMessage(here, f, 0);
        sweep(out, root, first, name + "[0].", [reach, f](Message& m) -> Message& {
          Message& at = reach(m);
          return *at.GetReflection()->MutableRepeatedMessage(&at, f, 0);
        });
        continue;
      }
      for (const Value& v : hostile_values(f))
        add(out, root, name + "[0] = " + v.text, [&](Message& m) { v.set(reach(m), f, 0); });
      continue;
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      add(out, root, name + " absent", [&](Message& m) { reach(m).GetReflection()->ClearField(&reach(m), f); });
      sweep(out, root, r->GetMessage(here, f), name + ".", [reach, f](Message& m) -> Message& {
        Message& at = reach(m);
        return *at.GetReflection()->MutableMessage(&at, f);
      });
      continue;
    }
    for (const Value& v : hostile_values(f))
      add(out, root, name + " = " + v.text, [&](Message& m) { v.set(reach(m), f, -1); });
  }
}

}  // namespace

std::vector<FieldVariant> field_variants(const Message& valid) {
  std::vector<FieldVariant> out;
  sweep(out, valid, valid, "", [](Message& m) -> Message& { return m; });
  return out;
}

}  // namespace dsrl::testing
