// dsrl-rollout as a real process on 127.0.0.1, over gRPC: generation with its traces on the wire, refusals that
// leave it serving, 64 concurrent clients, a client that goes away, and weight updates (applied, or refused
// whole with the old weights kept). The engine's consistency with a teacher-forced forward is tested in process
// (tests/rollout/engine_test.cpp); here the wire.
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "common/crc32c.h"
#include "model/safetensors.h"
#include "proto/rollout.grpc.pb.h"
#include "proto/sampling_mask.h"
#include "proto/server.h"
#include "tests/services/field_sweep.h"
#include "tests/services/process.h"
#include "tests/services/tiny_model.h"

namespace dsrl {
namespace {

using testing::ServiceProcess;

const std::string& checkpoint() { return testing::tiny_checkpoint(); }

ServiceProcess start(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--set", "model.checkpoint=" + checkpoint(), "--set", "engine.max_context=512"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ServiceProcess(DSRL_ROLLOUT_BIN, args);
}

std::unique_ptr<rollout::Rollout::Stub> connect(const ServiceProcess& service) {
  return rollout::Rollout::NewStub(grpc::CreateChannel(service.address(), grpc::InsecureChannelCredentials()));
}

rollout::GenerateRequest request(uint64_t seed, int max_new = 12) {
  rollout::GenerateRequest r;
  for (const char* id : {"p0", "p1"}) {
    auto* p = r.add_prompts();
    p->set_id(id);
    for (int t : {256, 87, 104, 97, 116, 32, 105, 115}) p->add_token_ids(t + (id[1] - '0'));
  }
  r.set_samples_per_prompt(3);
  r.mutable_sampling()->set_temperature(1.0);
  r.mutable_sampling()->set_top_k(30);
  r.mutable_sampling()->set_top_p(0.9);
  r.mutable_sampling()->set_max_new_tokens(max_new);
  r.mutable_sampling()->set_seed(seed);
  return r;
}

grpc::Status generate(rollout::Rollout::Stub& stub, const rollout::GenerateRequest& r, rollout::GenerateResponse* out,
                      double deadline_s = 60) {
  grpc::ClientContext context;
  prepare_call(context, deadline_s);
  return stub.Generate(&context, r, out);
}

rollout::RolloutStatus status(rollout::Rollout::Stub& stub) {
  grpc::ClientContext context;
  prepare_call(context, 5);
  rollout::RolloutStatus s;
  EXPECT_TRUE(stub.GetStatus(&context, rollout::GetStatusRequest(), &s).ok());
  return s;
}

std::vector<std::vector<int32_t>> tokens_of(const rollout::GenerateResponse& r) {
  std::vector<std::vector<int32_t>> out;
  for (const auto& s : r.samples()) out.emplace_back(s.token_ids().begin(), s.token_ids().end());
  return out;
}

TEST(RolloutService, GeneratesWithEveryTraceOnTheWire) {
  ServiceProcess service = start();
  auto stub = connect(service);
  rollout::GenerateRequest r = request(7);
  r.mutable_record()->set_sampling_mask(true);
  r.mutable_record()->set_routing_trace(true);
  r.mutable_record()->set_indexer_topk(true);
  rollout::GenerateResponse out;
  ASSERT_TRUE(generate(*stub, r, &out).ok());
  ASSERT_EQ(out.samples_size(), 6);
  for (int i = 0; i < 6; ++i) {
    const rollout::Sample& s = out.samples(i);
    EXPECT_EQ(s.prompt_id(), i < 3 ? "p0" : "p1");
    EXPECT_EQ(s.sample_index(), static_cast<uint32_t>(i % 3));
    const int n = s.token_ids_size();
    EXPECT_EQ(n, 12);
    EXPECT_EQ(s.finish_reason(), rollout::FINISH_MAX_NEW_TOKENS);
    EXPECT_EQ(s.logprobs_size(), n);
    ASSERT_EQ(s.sampling_mask().positions_size(), n);
    EXPECT_EQ(s.sampling_mask().vocab_size(), 264u);
    for (int t = 0; t < n; ++t) {
      EXPECT_LE(s.logprobs(t), 0.0f);
      std::vector<uint8_t> kept = decode_kept_set(s.sampling_mask().positions(t), 264);
      EXPECT_TRUE(kept[s.token_ids(t)]) << "the sampled token is in its kept set";
      EXPECT_LE(std::count(kept.begin(), kept.end(), 1), 30) << "top_k 30";
    }
    const int T = 8 + n - 1;  // prompt + completion, the last token never fed
    EXPECT_EQ(s.routing().num_layers(), 3u);
    EXPECT_EQ(s.routing().num_tokens(), static_cast<uint32_t>(T));
    EXPECT_EQ(s.routing().experts_per_token(), 2u);
    EXPECT_EQ(s.routing().expert_ids().size(), static_cast<size_t>(3 * T * 2 * 2));
    EXPECT_EQ(s.indexer().num_layers(), 4u);
    EXPECT_EQ(s.indexer().num_tokens(), static_cast<uint32_t>(T));
    EXPECT_EQ(s.indexer().topk(), 64u);
    EXPECT_EQ(s.indexer().positions().size(), static_cast<size_t>(4 * T * 64 * 4));
    ASSERT_EQ(s.policy_versions_size(), 1);
    EXPECT_EQ(s.policy_versions(0), 0u);
  }
  rollout::GenerateResponse again, other;
  ASSERT_TRUE(generate(*stub, request(7), &again).ok());
  EXPECT_EQ(tokens_of(again), tokens_of(out)) << "same seed and inputs, same tokens";
  ASSERT_TRUE(generate(*stub, request(8), &other).ok());
  EXPECT_NE(tokens_of(other), tokens_of(out));
  rollout::RolloutStatus st = status(*stub);
  EXPECT_GT(st.mask_bytes_per_token(), 0.0);
  EXPECT_EQ(st.vocab_size(), 264u);
  EXPECT_EQ(st.model(), checkpoint());
  EXPECT_GT(st.kv_cache_capacity_bytes(), 0u);
  EXPECT_EQ(service.stop(SIGTERM), 0) << service.log();
}

TEST(RolloutService, RefusesBadRequestsAndKeepsServing) {
  ServiceProcess service = start();
  auto stub = connect(service);
  struct Case {
    std::function<void(rollout::GenerateRequest&)> change;
    grpc::StatusCode code;
    std::string says;
  };
  std::vector<Case> cases = {
      {[](auto& r) { r.clear_prompts(); }, grpc::INVALID_ARGUMENT, "prompts is empty"},
      {[](auto& r) { r.mutable_prompts(1)->clear_token_ids(); }, grpc::INVALID_ARGUMENT, "prompt 1 ('p1') is empty"},
      {[](auto& r) { r.mutable_prompts(0)->set_token_ids(0, 9999); }, grpc::INVALID_ARGUMENT, "token id 9999 outside"},
      {[](auto& r) { r.mutable_prompts(0)->set_token_ids(0, -3); }, grpc::INVALID_ARGUMENT, "token id -3 outside"},
      {[](auto& r) { r.set_samples_per_prompt(0); }, grpc::INVALID_ARGUMENT, "samples_per_prompt must be in [1, 1024]"},
      {[](auto& r) { r.set_samples_per_prompt(5000); }, grpc::INVALID_ARGUMENT, "samples_per_prompt"},
      {[](auto& r) { r.mutable_sampling()->set_temperature(-0.5); }, grpc::INVALID_ARGUMENT, "temperature"},
      {[](auto& r) { r.mutable_sampling()->set_top_p(1.5); }, grpc::INVALID_ARGUMENT, "top_p"},
      {[](auto& r) { r.mutable_sampling()->set_vocab_limit(100000); }, grpc::INVALID_ARGUMENT, "vocab_limit"},
      {[](auto& r) { r.mutable_sampling()->set_max_new_tokens(0); }, grpc::INVALID_ARGUMENT, "max_new_tokens"},
      {[](auto& r) { r.mutable_sampling()->set_max_new_tokens(600); }, grpc::INVALID_ARGUMENT, "(the context)"},
      {[](auto& r) { r.mutable_sampling()->add_stop_token_ids(500); }, grpc::INVALID_ARGUMENT, "stop token id 500"},
      {[](auto& r) { for (int i = 0; i < 600; ++i) r.mutable_prompts(0)->add_token_ids(5); },
       grpc::RESOURCE_EXHAUSTED, "no room in the worker's context of 512"},
  };
  for (const Case& c : cases) {
    rollout::GenerateRequest r = request(1);
    c.change(r);
    rollout::GenerateResponse out;
    grpc::Status s = generate(*stub, r, &out);
    EXPECT_EQ(s.error_code(), c.code) << c.says << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(c.says), std::string::npos) << s.error_message();
  }
  rollout::GenerateResponse out;
  EXPECT_TRUE(generate(*stub, request(1), &out).ok()) << "still serving";
  EXPECT_EQ(status(*stub).queued_sequences(), 0u);
}

TEST(RolloutService, EveryGenerateFieldSweptGetsAnAnswerOrAClearRefusal) {
  ServiceProcess service = start();
  auto stub = connect(service);
  rollout::GenerateRequest valid = request(1, 4);
  valid.set_samples_per_prompt(2);
  valid.mutable_sampling()->add_stop_token_ids(10);
  valid.mutable_record()->set_sampling_mask(true);
  valid.mutable_record()->set_routing_trace(true);
  valid.mutable_record()->set_indexer_topk(true);
  const std::set<grpc::StatusCode> allowed = {grpc::OK, grpc::INVALID_ARGUMENT, grpc::RESOURCE_EXHAUSTED};
  int swept = 0, refused = 0;
  for (const auto& v : testing::field_variants(valid)) {
    const auto& r = static_cast<const rollout::GenerateRequest&>(*v.message);
    rollout::GenerateResponse out;
    grpc::Status s = generate(*stub, r, &out);
    ++swept;
    EXPECT_TRUE(allowed.count(s.error_code())) << v.change << ": code " << s.error_code() << ", " << s.error_message();
    if (!s.ok()) {
      ++refused;
      EXPECT_FALSE(s.error_message().empty()) << v.change;
      EXPECT_LE(s.error_message().size(), 1100u) << v.change;
      continue;
    }
    ASSERT_EQ(out.samples_size(), r.prompts_size() * static_cast<int>(r.samples_per_prompt())) << v.change;
    for (const auto& sample : out.samples()) {
      EXPECT_GE(sample.token_ids_size(), 1) << v.change;
      for (float lp : sample.logprobs()) EXPECT_TRUE(std::isfinite(lp) && lp <= 0) << v.change << ": logprob " << lp;
      for (int32_t t : sample.token_ids()) EXPECT_TRUE(t >= 0 && t < 264) << v.change << ": token " << t;
    }
  }
  std::cout << "Generate: " << swept << " variants, " << refused << " refused" << std::endl;
  EXPECT_GE(swept, 45);
  EXPECT_GE(refused, 20);
  rollout::GenerateResponse out;
  EXPECT_TRUE(generate(*stub, valid, &out).ok()) << "still serving";
  EXPECT_EQ(status(*stub).queued_sequences(), 0u);
  EXPECT_EQ(service.stop(SIGTERM), 0) << service.log();
}

TEST(RolloutService, SixtyFourConcurrentClientsGetTheirOwnCompleteAnswers) {
  ServiceProcess service = start({"--set", "engine.max_sequences=16"});  // 384 sequences through 16 rows
  auto stub = connect(service);
  constexpr int kClients = 64;
  std::vector<rollout::GenerateResponse> answers(kClients);
  std::vector<grpc::Status> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] { results[i] = generate(*stub, request(100 + i, 10), &answers[i], 120); });
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].error_message();
    ASSERT_EQ(answers[i].samples_size(), 6);
    for (const auto& s : answers[i].samples()) EXPECT_EQ(s.token_ids_size(), 10);
  }
  // Each answer is the one that client alone would get (its samples' own streams, whoever shared the batch).
  for (int i : {0, 17, 63}) {
    rollout::GenerateResponse alone;
    ASSERT_TRUE(generate(*stub, request(100 + i, 10), &alone).ok());
    EXPECT_EQ(tokens_of(alone), tokens_of(answers[i])) << "client " << i;
  }
  EXPECT_NE(tokens_of(answers[0]), tokens_of(answers[1]));
}

TEST(RolloutService, AClientThatGoesAwayFreesItsRows) {
  ServiceProcess service = start({"--set", "engine.max_sequences=6"});
  auto stub = connect(service);
  rollout::GenerateResponse out;
  rollout::GenerateRequest r = request(3, 500);
  r.set_samples_per_prompt(32);  // 64 x 500 tokens through 6 rows: seconds of work
  grpc::Status s = generate(*stub, r, &out, 0.2);
  EXPECT_EQ(s.error_code(), grpc::DEADLINE_EXCEEDED) << s.error_message();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (status(*stub).running_sequences() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(status(*stub).running_sequences(), 0u);
  EXPECT_TRUE(generate(*stub, request(3, 5), &out, 30).ok()) << "the rows are free again";
}

// --- weight updates ------------------------------------------------------------------------------------------

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string bytes;  // float32
};

Tensor read_tensor(const std::string& name) {
  SafetensorsFile f = SafetensorsFile::open(checkpoint() + "/model.safetensors");
  const StTensorInfo& info = f.at(name);
  Tensor t{name, info.shape, std::string(info.nbytes, '\0')};
  f.read(info, t.bytes.data(), t.bytes.size());
  return t;
}

rollout::WeightChunk chunk_of(const Tensor& t, uint64_t version, int total, size_t from, size_t to) {
  rollout::WeightChunk c;
  c.set_version(version);
  c.set_total_tensors(total);
  c.set_tensor_name(t.name);
  for (int64_t d : t.shape) c.add_shape(d);
  c.set_dtype(rollout::DTYPE_FLOAT32);
  c.set_byte_offset(from);
  c.set_data(t.bytes.substr(from, to - from));
  c.set_crc32c(crc32c(c.data().data(), c.data().size()));
  return c;
}

grpc::Status send(rollout::Rollout::Stub& stub, const std::vector<rollout::WeightChunk>& chunks,
                  rollout::UpdateWeightsResponse* out = nullptr, const std::string& token = "") {
  grpc::ClientContext context;
  prepare_call(context, 60);
  if (!token.empty()) context.AddMetadata(kTokenMetadataKey, token);
  rollout::UpdateWeightsResponse response;
  auto writer = stub.UpdateWeights(&context, out ? out : &response);
  for (const auto& c : chunks)
    if (!writer->Write(c)) break;
  writer->WritesDone();
  return writer->Finish();
}

// lm_head.weight negated, in three chunks.
std::vector<rollout::WeightChunk> negated_head(uint64_t version) {
  Tensor t = read_tensor("lm_head.weight");
  auto* f = reinterpret_cast<float*>(t.bytes.data());
  for (size_t i = 0; i < t.bytes.size() / 4; ++i) f[i] = -f[i];
  const size_t third = t.bytes.size() / 3;
  return {chunk_of(t, version, 1, 0, third), chunk_of(t, version, 1, 2 * third, t.bytes.size()),
          chunk_of(t, version, 1, third, 2 * third)};
}

TEST(RolloutService, WeightUpdatesApplyWholeOrNotAtAll) {
  ServiceProcess service = start();
  auto stub = connect(service);
  rollout::GenerateRequest greedy = request(1, 8);
  greedy.mutable_sampling()->set_temperature(0);
  rollout::GenerateResponse before, after, still;
  ASSERT_TRUE(generate(*stub, greedy, &before).ok());

  rollout::UpdateWeightsResponse done;
  ASSERT_TRUE(send(*stub, negated_head(1), &done).ok());
  EXPECT_EQ(done.version(), 1u);
  EXPECT_EQ(done.tensors(), 1u);
  EXPECT_EQ(status(*stub).policy_version(), 1u);
  ASSERT_TRUE(generate(*stub, greedy, &after).ok());
  EXPECT_NE(tokens_of(after), tokens_of(before)) << "the new head changes the greedy tokens";
  EXPECT_EQ(after.samples(0).policy_versions(0), 1u);

  struct Bad {
    std::function<void(std::vector<rollout::WeightChunk>&)> spoil;
    grpc::StatusCode code;
    std::string says;
  };
  std::vector<Bad> bad = {
      {[](auto& c) { c[1].set_crc32c(c[1].crc32c() ^ 1); }, grpc::DATA_LOSS, "fails its crc32c"},
      {[](auto& c) { c[0].set_tensor_name("lm_head.weights"); }, grpc::INVALID_ARGUMENT, "unknown tensor"},
      {[](auto& c) { c[0].set_shape(0, 7); }, grpc::INVALID_ARGUMENT, "shape"},
      {[](auto& c) { c[0].set_dtype(rollout::DTYPE_BFLOAT16); }, grpc::INVALID_ARGUMENT, "dtype bfloat16"},
      {[](auto& c) { c.pop_back(); }, grpc::INVALID_ARGUMENT, "stream cut off"},
      {[](auto& c) { for (auto& x : c) x.set_total_tensors(2); }, grpc::INVALID_ARGUMENT, "2 tensors announced"},
      {[](auto& c) { c[1].set_byte_offset(c[1].byte_offset() + 4); }, grpc::INVALID_ARGUMENT, "outside the tensor"},
      {[](auto& c) { c[2].set_byte_offset(c[2].byte_offset() + 4); }, grpc::INVALID_ARGUMENT, "overlaps one already"},
      {[](auto& c) { for (auto& x : c) x.set_version(1); }, grpc::INVALID_ARGUMENT, "not above the serving version"},
  };
  for (const Bad& b : bad) {
    std::vector<rollout::WeightChunk> chunks = negated_head(2);
    for (auto& c : chunks) {  // back to the original values: an update that would change the outputs again
      std::string d = c.data();
      auto* f = reinterpret_cast<float*>(d.data());
      for (size_t i = 0; i < d.size() / 4; ++i) f[i] = -f[i];
      c.set_data(d);
      c.set_crc32c(crc32c(d.data(), d.size()));
    }
    b.spoil(chunks);
    grpc::Status s = send(*stub, chunks);
    EXPECT_EQ(s.error_code(), b.code) << b.says << ": " << s.error_message();
    EXPECT_NE(s.error_message().find(b.says), std::string::npos) << s.error_message();
    EXPECT_NE(s.error_message().find("old weights kept"), std::string::npos) << s.error_message();
    EXPECT_EQ(status(*stub).policy_version(), 1u);
    ASSERT_TRUE(generate(*stub, greedy, &still).ok());
    EXPECT_EQ(tokens_of(still), tokens_of(after)) << "outputs unchanged after: " << b.says;
  }
}

// Writes `sent` of the chunks, waits until the worker has surely read them, then drops the stream without ending
// it: what the worker sees when the trainer dies mid-update (the connection goes, no WritesDone).
grpc::Status send_then_cut_off(rollout::Rollout::Stub& stub, const std::vector<rollout::WeightChunk>& chunks,
                               size_t sent) {
  grpc::ClientContext context;
  prepare_call(context, 60);
  rollout::UpdateWeightsResponse response;
  auto writer = stub.UpdateWeights(&context, &response);
  for (size_t i = 0; i < sent; ++i) EXPECT_TRUE(writer->Write(chunks[i]));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  context.TryCancel();
  return writer->Finish();
}

TEST(RolloutService, AWeightUpdateCutOffMidwayKeepsTheOldWeightsAndVersion) {
  ServiceProcess service = start();
  auto stub = connect(service);
  rollout::GenerateRequest greedy = request(1, 8);
  greedy.mutable_sampling()->set_temperature(0);
  rollout::GenerateResponse before, after;
  ASSERT_TRUE(generate(*stub, greedy, &before).ok());
  // Cut off after 0, 1 and 2 of the 3 chunks, and after all 3 but before the stream was closed: the trainer never
  // learnt whether the update took, so the worker must not install it.
  for (size_t sent : {0, 1, 2, 3}) {
    grpc::Status s = send_then_cut_off(*stub, negated_head(1), sent);
    EXPECT_EQ(s.error_code(), grpc::CANCELLED) << sent << " chunks: " << s.error_message();
    EXPECT_EQ(status(*stub).policy_version(), 0u) << "cut off after " << sent << " chunks";
    ASSERT_TRUE(generate(*stub, greedy, &after).ok());
    EXPECT_EQ(tokens_of(after), tokens_of(before)) << "outputs unchanged after a cut off at chunk " << sent;
  }
  EXPECT_NE(service.log().find("cut off"), std::string::npos) << service.log();
  ASSERT_TRUE(send(*stub, negated_head(1)).ok()) << "the same update, sent whole, then applies";
  EXPECT_EQ(status(*stub).policy_version(), 1u);
}

TEST(RolloutService, EveryWeightChunkFieldSweptIsRefusedWholeAndTheServiceStaysUp) {
  ServiceProcess service = start();
  auto stub = connect(service);
  const std::vector<rollout::WeightChunk> valid = negated_head(1);
  int swept = 0;
  for (const auto& v : testing::field_variants(valid[0])) {  // every field of the first of three chunks
    std::vector<rollout::WeightChunk> chunks = valid;
    chunks[0] = static_cast<const rollout::WeightChunk&>(*v.message);
    grpc::Status s = send(*stub, chunks);
    ++swept;
    ASSERT_FALSE(s.ok()) << v.change << " was applied";
    EXPECT_TRUE(s.error_code() == grpc::INVALID_ARGUMENT || s.error_code() == grpc::DATA_LOSS)
        << v.change << ": code " << s.error_code() << ", " << s.error_message();
    EXPECT_NE(s.error_message().find("old weights kept"), std::string::npos) << v.change << ": " << s.error_message();
  }
  std::cout << "WeightChunk: " << swept << " variants, all refused" << std::endl;
  EXPECT_GE(swept, 25);
  EXPECT_EQ(status(*stub).policy_version(), 0u);
  ASSERT_TRUE(send(*stub, valid).ok()) << "the valid update still applies";
  EXPECT_EQ(status(*stub).policy_version(), 1u);
}

TEST(RolloutService, ASwapWaitsForSamplesThatMayNotChangeVersion) {
  ServiceProcess service = start();
  auto stub = connect(service);
  for (bool allow : {false, true}) {
    rollout::GenerateRequest r = request(5, 480);
    r.set_samples_per_prompt(1);
    r.set_allow_version_change(allow);
    rollout::GenerateResponse out;
    grpc::Status generated;
    std::thread client([&] { generated = generate(*stub, r, &out); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (status(*stub).running_sequences() == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const uint64_t version = allow ? 2 : 1;
    ASSERT_TRUE(send(*stub, negated_head(version)).ok());
    client.join();
    ASSERT_TRUE(generated.ok()) << generated.error_message();
    for (const auto& s : out.samples()) {
      std::vector<uint64_t> seen(s.policy_versions().begin(), s.policy_versions().end());
      if (allow) EXPECT_EQ(seen, (std::vector<uint64_t>{version - 1, version})) << "swapped mid-sample, reported";
      else EXPECT_EQ(seen, std::vector<uint64_t>{version - 1}) << "the swap waited for the sample";
    }
  }
}

TEST(RolloutService, WithATokenNoCallAndNoWeightUpdatePassesWithoutIt) {
  const std::string secret = "rollout-secret-77";
  const auto token_file = std::filesystem::temp_directory_path() / ("dsrl_rollout_token_" + std::to_string(getpid()));
  std::ofstream(token_file) << secret;
  ServiceProcess service = start({"--set", "server.token_file=" + token_file.string()});
  auto stub = connect(service);
  rollout::UpdateWeightsResponse out;
  EXPECT_EQ(send(*stub, negated_head(1), &out).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(send(*stub, negated_head(1), &out, "rollout-secret-78").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  rollout::GenerateResponse generated;
  EXPECT_EQ(generate(*stub, request(1, 4), &generated).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto version = [&] {
    grpc::ClientContext context;
    prepare_call(context, 5);
    context.AddMetadata(kTokenMetadataKey, secret);
    rollout::RolloutStatus s;
    EXPECT_TRUE(stub->GetStatus(&context, rollout::GetStatusRequest(), &s).ok());
    return s.policy_version();
  };
  EXPECT_EQ(version(), 0u) << "the refused updates left the weights alone";
  ASSERT_TRUE(send(*stub, negated_head(1), &out, secret).ok());
  EXPECT_EQ(version(), 1u);
  EXPECT_EQ(service.stop(SIGINT), 0);
  EXPECT_EQ(service.log().find(secret), std::string::npos);
  std::filesystem::remove(token_file);
}

TEST(RolloutService, BadConfigExitsTwoWithOneLine) {
  auto r = testing::run_process(DSRL_ROLLOUT_BIN, {"--set", "server.port=-5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "dsrl-rollout: --set server.port: server.port must be in [0, 65535], got -5\n");
  r = testing::run_process(DSRL_ROLLOUT_BIN, {"--config", "/nonexistent.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot read config file /nonexistent.yaml"), std::string::npos) << r.err;
  r = testing::run_process(DSRL_ROLLOUT_BIN, {});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("model needs model.checkpoint"), std::string::npos) << r.err;
  r = testing::run_process(DSRL_ROLLOUT_BIN, {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--config FILE"), std::string::npos);
}

}  // namespace
}  // namespace dsrl
