#pragma once

// mamorid's implementation of admin::Services: what control-socket commands
// see of the running daemon. The main thread publishes snapshots (config,
// shield interfaces) and runs reloads; control threads read the snapshots,
// write bans and lists through the pinned maps, and queue reload requests
// that the main loop answers.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "admin/services.h"
#include "config/types.h"

namespace mamori::net {
class Engine;
}

namespace mamori::daemon {

class BotProtection;
class ChallengeProtection;
class Inspection;
class LoginProtection;
class FloodProtection;

class ControlServices final : public admin::Services {
 public:
  // `pin_root`: where the shield's maps are pinned; `config_path` empty for
  // the quick start. Main thread.
  ControlServices(std::string pin_root, std::string config_path, unsigned workers);

  // Main thread: publish what the commands show.
  void setConfig(std::shared_ptr<const config::Config> config);
  void setShield(admin::ShieldInfo info);
  void setEngine(const net::Engine* engine);  // nullptr: no engine; must outlive calls
  void setLogReader(std::shared_ptr<const logs::LogReader> reader);  // nullptr: logging off
  void setInspection(Inspection* inspection);  // nullptr: no sites; must outlive calls
  void setLogin(LoginProtection* login);  // nullptr: no sites; must outlive calls
  void setBots(BotProtection* bots);  // nullptr: no sites; must outlive calls
  void setChallenge(ChallengeProtection* challenge);  // nullptr: no sites; must outlive calls
  void setFlood(FloodProtection* flood);  // nullptr: no sites; must outlive calls

  // Main thread, from its loop: runs one queued reload request, if any,
  // with `reload` and hands the result to the waiting control thread.
  void serveReloadRequest(const std::function<common::Result<std::string>()>& reload);
  // Main thread, at shutdown: answers waiting and future reload requests
  // with an error so no control thread waits forever.
  void shutdown();

  admin::DaemonInfo daemonInfo() override;
  net::EngineStats engineStats() override;
  std::vector<admin::SiteInfo> sites() override;
  common::Result<admin::UnderAttackInfo> setUnderAttack(const std::string& site,
                                                        const std::string& to) override;
  admin::ShieldInfo shieldInfo() override;
  common::Result<shield::Counters> shieldCounters() override;
  common::Result<std::vector<shield::Ban>> listBans() override;
  common::Status addBan(const common::IpPrefix& source, std::chrono::seconds ttl,
                        shield::BanReason reason) override;
  common::Status deleteBan(const common::IpPrefix& source) override;
  common::Result<std::vector<common::IpPrefix>> list(shield::ListKind kind) override;
  common::Status addToList(shield::ListKind kind, const common::IpPrefix& prefix) override;
  common::Status deleteFromList(shield::ListKind kind, const common::IpPrefix& prefix) override;
  // Control thread: queues a reload for the main loop and waits for it.
  common::Result<std::string> reload() override;
  std::shared_ptr<const logs::LogReader> logReader() override;
  common::Result<std::vector<admin::RuleInfo>> listRules() override;
  common::Status setRuleEnabled(std::uint32_t id, bool enabled) override;
  common::Result<std::string> reloadRules() override;
  common::Result<admin::RuleTestReport> testRequest(std::string_view raw_request,
                                                    const std::string& site) override;
  common::Result<std::vector<admin::LoginSiteInfo>> loginStatus(const std::string& site,
                                                                 std::size_t top) override;
  common::Result<bool> loginUnlock(const std::string& site, const std::string& user) override;
  common::Result<admin::LoginReportResult> loginReport(const std::string& site,
                                                       const std::string& user,
                                                       const common::IpPrefix& ip,
                                                       bool failed) override;
  common::Result<admin::BotStatusInfo> botStatus(const std::string& site) override;
  common::Result<std::vector<admin::BotTopInfo>> botTop(const std::string& site,
                                                        std::size_t n) override;
  common::Result<admin::DosStatus> dosStatus(const std::string& site, std::size_t top) override;

 private:
  common::Status requireShield();
  LoginProtection* login();
  ChallengeProtection* challenge();

  const std::string pin_root_;
  const std::string config_path_;
  const unsigned workers_;
  const std::chrono::steady_clock::time_point started_;

  std::mutex mu_;  // guards everything below; never taken on the request path
  std::condition_variable reload_done_;
  std::shared_ptr<const config::Config> config_;
  admin::ShieldInfo shield_;
  const net::Engine* engine_ = nullptr;
  std::shared_ptr<const logs::LogReader> log_reader_;
  Inspection* inspection_ = nullptr;
  LoginProtection* login_ = nullptr;
  BotProtection* bots_ = nullptr;
  ChallengeProtection* challenge_ = nullptr;
  FloodProtection* flood_ = nullptr;
  bool reload_wanted_ = false;
  bool stopped_ = false;
  std::uint64_t reload_generation_ = 0;  // bumped when a reload finishes
  std::optional<common::Result<std::string>> reload_result_;
};

}  // namespace mamori::daemon
