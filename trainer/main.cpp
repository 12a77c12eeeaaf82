// dsrl-train: every training stage, data-parallel under mpirun / srun.
//   mpirun -np 2 dsrl-train --config configs/preflight.yaml
#include "common/cli.h"
#include "common/error.h"
#include "trainer/config.h"
#include "trainer/dist.h"
#include "trainer/grpo_stage.h"
#include "trainer/preflight.h"
#include "trainer/pretrain_stage.h"
#include "trainer/refine_stage.h"
#include "trainer/run_dir.h"
#include "trainer/service_probe.h"
#include "trainer/synth_stage.h"

namespace dsrl {
namespace {

int run_stage(const TrainConfig& config, const MpiSession& mpi, bool resume) {
  auto log = logger("trainer");
  std::unique_ptr<Communicator> comm =
      config.device == "cuda" ? make_nccl_communicator(mpi) : make_mpi_communicator();
  const std::string run_dir = mpi.broadcast(mpi.rank() == 0 ? prepare_run_dir(config) : "");
  log->info("stage {} on {} rank(s), device {}, all-reduce over {}{}", config.stage, mpi.size(), config.device,
            comm->backend(), ", run dir " + run_dir);
  if (config.stage == "preflight") return run_preflight(config.preflight, *comm, config.device, run_dir);
  if (config.stage == "grpo") return run_grpo_stage(config, *comm, mpi, run_dir, resume);
  if (config.stage == "synthesize") {
    DSRL_CHECK(!resume, "stage synthesize has no --resume: it writes its task files anew");
    return run_synth_stage(config, mpi.rank(), run_dir);
  }
  if (config.stage == "refine") {
    DSRL_CHECK(!resume, "stage refine has no --resume: it is an evaluation, run it again");
    return run_refine_stage(config, mpi.rank(), run_dir);
  }
  return run_pretrain_stage(config, *comm, run_dir, resume);
}

// A rank that fails ends the whole job: the others would otherwise wait in a collective forever.
int train(const TrainConfig& config, const MpiSession& mpi, bool resume) {
  try {
    use_client_auth(config.client_auth);
    return run_stage(config, mpi, resume);
  } catch (const std::exception& e) {
    if (mpi.size() == 1) throw;
    logger("common")->error("dsrl-train failed on rank {} of {}, ending the job: {}", mpi.rank(), mpi.size(), e.what());
    mpi.abort(1);
  }
}

}  // namespace
}  // namespace dsrl

int main(int argc, char** argv) {
  dsrl::MpiSession mpi(&argc, &argv);
  return dsrl::run_main<dsrl::TrainConfig>(
      argc, argv,
      "dsrl-train: training stages (preflight, lm, dense_warmup, sparse, grpo, synthesize, refine) under mpirun or srun",
      [&](const dsrl::TrainConfig& config, const dsrl::CommandLine& cli) { return dsrl::train(config, mpi, cli.resume); });
}
