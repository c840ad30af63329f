-- Argo CD health of an AccessToken (Lua 5.1). Healthy: Ready is True for the current
-- generation. Progressing: no status yet, an older generation reported, or the token waits for
-- its turn or its account. Suspended: revoked, or its account is disabled, on purpose.
-- Degraded: expired, or something a person must fix (Secret conflict, invalid spec, a JWT that
-- cannot be kept in the Secret).
local hs = {}

local function condition(type)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

local generation = obj.metadata.generation
local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report the token's status"
  return hs
end
local observed = ready.observedGeneration or obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. generation
  return hs
end

if ready.status == "True" then
  local jwt = condition("JwtReady")
  if jwt ~= nil and jwt.status ~= "True" then
    -- TokenNotActive and TokenExpiring follow the token itself; the others need a change.
    if jwt.reason == "TokenNotActive" or jwt.reason == "TokenExpiring" then
      hs.status = "Progressing"
    else
      hs.status = "Degraded"
    end
    hs.message = "JWT in the Secret: " .. describe(jwt)
    return hs
  end
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

local reason = ready.reason
if reason == "Revoked" or reason == "ServiceAccountDisabled" then
  hs.status = "Suspended"
elseif reason == "AccountHasActiveToken" or reason == "ServiceAccountNotFound" then
  hs.status = "Progressing"
else
  -- Expired, SecretConflict, InvalidSpec, and any reason this check does not know yet.
  hs.status = "Degraded"
end
hs.message = describe(ready)
return hs
