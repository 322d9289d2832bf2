module ProxyFixtureB
  def self.hello
    "b 1.0.0 ruby"
  end
end
