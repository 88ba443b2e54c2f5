-- Argo CD health of ops.runbook.dev/Release: Suspended while spec.paused or while the
-- verification is paused (phase Paused); Degraded when the rollout failed or was
-- rolled back; Progressing during the pipeline, the canary (phase Canary) included.
if obj.spec ~= nil and obj.spec.paused == true then
  return { status = "Suspended", message = "Release paused" }
end
local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then return c end
  end
  return nil
end
local function msg(c, default)
  if c ~= nil and c.message ~= nil and c.message ~= "" then return c.message end
  return default
end
local hs = { status = "Progressing", message = "Waiting for the controller to report status" }
if obj.status == nil then return hs end
local gen = obj.metadata.generation
local observed = obj.status.observedGeneration
if gen ~= nil and observed ~= nil and observed < gen then
  hs.message = "Waiting for the controller to observe generation " .. gen
  return hs
end
local ready, stalled, reconciling = condition("Ready"), condition("Stalled"), condition("Reconciling")
local phase = obj.status.phase
if phase == "Failed" or phase == "RolledBack" or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  hs.message = msg(stalled, msg(ready, "Release " .. (phase or "failed")))
elseif phase == "Paused" then
  -- The verification is held (a window that ended inconclusive, or Prometheus not
  -- answering errorThreshold times): not Deployed, waiting for Prometheus or a person.
  hs.status = "Suspended"
  hs.message = msg(reconciling, msg(condition("Verified"), "Release paused"))
elseif ready ~= nil and ready.status == "True" and (reconciling == nil or reconciling.status ~= "True") then
  hs.status = "Healthy"
  hs.message = msg(ready, "Release deployed")
else
  hs.message = msg(reconciling, msg(ready, "Release " .. (phase or "pending")))
end
return hs
