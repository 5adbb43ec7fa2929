import ArrayCore

/// A setting of the run that wrote a checkpoint, as the command-line flag that sets it, beside
/// this run's value: a run resumed from the checkpoint must share it.
package struct ResumedSetting {
  /// The flag (`--dtype`).
  package var flag: String
  /// The checkpoint's value, from its metadata, written as the flag takes it (`nil`: not
  /// recorded, so not checked).
  package var saved: String?
  /// This run's value.
  package var current: String
  /// Why the value must be the same, ending the message (`to get the same samples`).
  package var reason: String

  /// Creates a setting to compare.
  package init(flag: String, saved: String?, current: String, reason: String) {
    self.flag = flag
    self.saved = saved
    self.current = current
    self.reason = reason
  }
}

/// The message for the first of `settings` whose checkpoint value differs from this run's,
/// naming the flag to change (`m.safetensors was written with --dtype float32, this run has
/// --dtype float64; resume with --dtype float32 ...`), or `nil` when all agree. Checked before a
/// checkpoint's variables are matched, so that a checkpoint of another dtype, optimizer or seed
/// is named as such rather than listed as mismatched, missing and unexpected variables (as the
/// checkpoint's recipe is).
package func resumedSettingMismatch(of path: String, _ settings: [ResumedSetting]) -> String? {
  for setting in settings {
    if let saved = setting.saved, saved != setting.current {
      return "\(path) was written with \(setting.flag) \(SafeText.excerpt(saved)), this run has \(setting.flag) \(setting.current); "
        + "resume with \(setting.flag) \(SafeText.excerpt(saved)) \(setting.reason)"
    }
  }
  return nil
}
