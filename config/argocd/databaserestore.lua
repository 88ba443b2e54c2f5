-- Argo CD health of ops.runbook.dev/DatabaseRestore.
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
if phase == "Completed" then
  hs.status = "Healthy"
  hs.message = msg(ready, "Restore completed")
elseif phase == "Failed" or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  hs.message = msg(stalled, msg(ready, "Restore failed"))
else
  hs.message = msg(reconciling, msg(ready, "Restore " .. (phase or "pending")))
end
return hs
